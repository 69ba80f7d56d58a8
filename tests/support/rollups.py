"""The rollup tables' rows, in key order, to compare the writer's upkeep with a rebuild."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store.rollup_tables import ROLLUP_DAYS, ROLLUP_HOURS, ROLLUP_TRAFFIC


def rollup_snapshot(engine: Engine) -> tuple[list[Any], list[Any], list[Any]]:
    """Every hour, day and traffic row (float sums to 12 significant digits: added in another
    order, they may differ in the last bits)."""

    def rows(query: sa.Select[Any]) -> list[Any]:
        return [
            tuple(float(f"{v:.12g}") if isinstance(v, float) else v for v in r) for r in conn.execute(query)
        ]

    with engine.connect() as conn:
        hours = rows(sa.select(ROLLUP_HOURS).order_by(ROLLUP_HOURS.c.hour, ROLLUP_HOURS.c.grain))
        days = rows(sa.select(ROLLUP_DAYS).order_by(ROLLUP_DAYS.c.day, ROLLUP_DAYS.c.grain))
        traffic = rows(sa.select(ROLLUP_TRAFFIC).order_by(ROLLUP_TRAFFIC.c.hour, ROLLUP_TRAFFIC.c.outcome))
    return hours, days, traffic
