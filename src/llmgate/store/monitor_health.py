"""The monitor worker's health, as one JSON row of ``monitor_state`` (name ``health``).

Every pass of ``llmgate monitor`` (or of the monitor ``llmgate serve`` starts) updates it:
when the last pass ran and succeeded, the failures so far and in a row, the last error, and
whether a "monitor failing" alert is open. Kept in the store rather than in the worker's memory
so that ``llmgate drift status`` in another process, ``/metrics`` and readiness of every replica
read the same thing. The row is read and written in one transaction (locked on PostgreSQL), so
two workers never lose each other's counts. What the fields mean is ``monitors/health.py``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store.models import table

__all__ = ["load_health", "update_health"]

_NAME = "health"


def load_health(engine: Engine) -> dict[str, Any] | None:
    """The health the worker saved last, or None before its first pass."""
    st = table("monitor_state")
    with engine.connect() as conn:
        value = conn.execute(sa.select(st.c.value_json).where(st.c.name == _NAME)).scalar_one_or_none()
    return json.loads(value) if value else None


def update_health(
    engine: Engine, change: Callable[[dict[str, Any] | None], dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """Replace the health with ``change(current)`` atomically; returns what was saved."""
    st = table("monitor_state")
    query = sa.select(st.c.value_json).where(st.c.name == _NAME)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        current = conn.execute(query).scalar_one_or_none()
        value = change(json.loads(current) if current else None)
        text = json.dumps(value, default=str, sort_keys=True)
        if current is None:
            conn.execute(sa.insert(st).values(name=_NAME, value_json=text, updated_at=now))
        else:
            conn.execute(sa.update(st).where(st.c.name == _NAME).values(value_json=text, updated_at=now))
    return value
