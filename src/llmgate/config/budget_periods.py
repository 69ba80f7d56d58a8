"""The budget periods, in one place: their names and how a period is said in words.

A budget resets every ``daily``, ``weekly`` (from Monday) or ``monthly`` period; a budget given
without one is monthly (``DEFAULT_PERIOD``). ``period_bounds`` gives a period's start and end,
``auth/key_fields.py`` checks a key's or team's period, and the budget refusal says "today",
"this week" or "this month" (``PERIOD_NAMES``). No SQLAlchemy here, so the CLI can check a
period without loading the store.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

PERIODS = ("daily", "weekly", "monthly")
#: the period of a budget given without one
DEFAULT_PERIOD = "monthly"
#: the current period of each, in words ("spent $0.42 of $1 today")
PERIOD_NAMES = {"daily": "today", "weekly": "this week", "monthly": "this month"}


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

    def midnight(d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC)

    return midnight(start), midnight(end)
