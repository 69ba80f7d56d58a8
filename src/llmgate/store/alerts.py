"""Queries on the ``alerts`` table: alerts raised by scheduled evals and live monitors."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store.models import table


def insert_alert(
    engine: Engine,
    *,
    at: datetime,
    source: str,
    kind: str,
    severity: str,
    title: str,
    details: dict[str, Any],
) -> int | None:
    """Store one alert; returns its id."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.insert(table("alerts")).values(
                at=at,
                source=source,
                kind=kind,
                severity=severity,
                title=title,
                details_json=json.dumps(details, default=str, sort_keys=True),
            )
        )
        key = result.inserted_primary_key
        return int(key[0]) if key and key[0] is not None else None


def list_alerts(engine: Engine, *, since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest alerts first, with their details decoded."""
    alerts = table("alerts")
    query = sa.select(alerts).order_by(alerts.c.at.desc(), alerts.c.id.desc()).limit(limit)
    if since is not None:
        query = query.where(alerts.c.at >= since)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["details"] = json.loads(row.pop("details_json") or "{}")
    return rows
