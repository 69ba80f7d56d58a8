"""The budget periods, in one place: their names and how a period is said in words.

A budget resets every ``daily``, ``weekly`` (from Monday) or ``monthly`` period; a budget given
without one is monthly (``DEFAULT_PERIOD``). ``store/spend.py`` computes a period's bounds,
``auth/key_fields.py`` checks a key's or team's period, and the budget refusal says "today",
"this week" or "this month" (``PERIOD_NAMES``). No SQLAlchemy here, so the CLI can check a
period without loading the store.
"""

from __future__ import annotations

PERIODS = ("daily", "weekly", "monthly")
#: the period of a budget given without one
DEFAULT_PERIOD = "monthly"
#: the current period of each, in words ("spent $0.42 of $1 today")
PERIOD_NAMES = {"daily": "today", "weekly": "this week", "monthly": "this month"}
