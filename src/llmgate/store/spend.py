"""Spend over the recorded requests: budget periods and the sums budgets are checked against.

Periods (``daily``, ``weekly`` starting Monday, ``monthly``) begin at midnight in the configured
time zone (``llmgate.time_zone``, an IANA name; UTC by default), so a budget resets on the
calendar boundary finance expects, daylight-saving changes included. Sums are exact ``Decimal``
(``Money`` columns), never floats.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store.models import requests_table

PERIODS = ("daily", "weekly", "monthly")
#: which requests column each budget scope is summed by
SCOPE_COLUMNS = {"key": "key_id", "team": "team_id", "user": "user"}


def period_bounds(period: str, now: datetime, tz: str = "UTC") -> tuple[datetime, datetime]:
    """The UTC start (inclusive) and end (exclusive) of the ``period`` that contains ``now``."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    day = local.date()
    if period == "daily":
        start, end = day, day + timedelta(days=1)
    elif period == "weekly":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif period == "monthly":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"unknown budget period {period!r}: use one of {', '.join(PERIODS)}")

    def midnight(d: object) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC)  # type: ignore[attr-defined]

    return midnight(start), midnight(end)


def period_spend(
    engine: Engine, scope: str, since: datetime, until: datetime | None = None
) -> dict[str, Decimal]:
    """Recorded cost per key, team or user (``scope``) from ``since`` (UTC), as exact Decimals."""
    requests = requests_table()
    column = requests.c[SCOPE_COLUMNS[scope]]
    query = (
        sa.select(column, sa.func.sum(requests.c.cost_usd))
        .where(requests.c.created_at >= since, column.is_not(None))
        .group_by(column)
    )
    if until is not None:
        query = query.where(requests.c.created_at < until)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    # sum() keeps the column's Money type, so totals come back as exact Decimals on both stores.
    return {str(name): total if total is not None else Decimal(0) for name, total in rows}
