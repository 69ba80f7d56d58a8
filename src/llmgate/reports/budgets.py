"""Budget report: each key and team with a budget, its spend this period and where it is heading.

For every key and team that has ``budget_usd`` (and, when ``llmgate.user_budget_usd`` is set, every
user who spent in the current period) ``budget_report`` gives the budget, the current period
(``daily``, ``weekly`` from Monday, ``monthly``; monthly when none is set, as the enforcement
does) in ``llmgate.time_zone``, the spend recorded in it so far (``store.rollup_reads.period_spend``), what
is left, and the forecast to the period's end at the current burn rate::

    forecast = spend / elapsed * period length

with ``elapsed`` the time since the period began and ``period length`` its whole span (both from
the UTC bounds, so a 23- or 25-hour day of a daylight-saving change counts as such). Amounts are
``Decimal``, never floats; forecasts are rounded half-up to the store's 10 decimal places.

The JSON gives amounts as exact strings (``store.money.cost_text``); the table shows them for people
(``store.money.usd``: ``$0.001372``, not ``0.00``), what is left as a negative amount once spend
passed the budget, and the status ``exceeded`` for a key, team or user whose spend reached its
budget (a revoked or expired key says that instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.engine import Engine

from llmgate.config.budget_periods import period_bounds
from llmgate.store.keys import load_keys, load_teams
from llmgate.store.money import cost_text, usd
from llmgate.store.rollup_reads import period_spend

DEFAULT_PERIOD = "monthly"
_PLACES = Decimal(1).scaleb(-10)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class BudgetLine:
    scope: str  # key | team | user
    id: str  # key id, team id or user
    name: str  # key alias, team id or user
    status: str  # active | revoked | expired (keys); active otherwise
    budget_usd: Decimal
    period: str
    period_start: datetime
    period_end: datetime
    spend_usd: Decimal
    remaining_usd: Decimal
    forecast_usd: Decimal

    @property
    def over_budget(self) -> bool:
        return self.spend_usd >= self.budget_usd

    @property
    def forecast_over(self) -> bool:
        return self.forecast_usd > self.budget_usd


def forecast(spend: Decimal, start: datetime, end: datetime, now: datetime) -> Decimal:
    """Spend at ``end`` if it goes on at the rate since ``start``: ``spend / elapsed * length``."""
    elapsed = (min(now, end) - start) // _MICROSECOND
    length = (end - start) // _MICROSECOND
    if elapsed <= 0:
        return spend
    return (spend * Decimal(length) / Decimal(elapsed)).quantize(_PLACES, rounding=ROUND_HALF_UP)


def budget_report(
    engine: Engine,
    *,
    now: datetime | None = None,
    tz: str = "UTC",
    user_budget: tuple[Decimal, str] | None = None,
) -> list[BudgetLine]:
    """Keys first (by alias), then teams, then users, each with spend and forecast as of ``now``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    wanted: list[tuple[str, str, str, str, Decimal, str]] = []  # scope, id, name, status, budget, period
    for key in sorted(load_keys(engine), key=lambda k: k.alias):
        if key.budget_usd is not None:
            status = "revoked" if key.revoked_at else "expired" if not key.usable_at(now) else "active"
            period = key.budget_period or DEFAULT_PERIOD
            wanted.append(("key", key.id, key.alias, status, key.budget_usd, period))
    for team in load_teams(engine):
        if team.budget_usd is not None:
            period = team.budget_period or DEFAULT_PERIOD
            wanted.append(("team", team.id, team.id, "active", team.budget_usd, period))

    cache: dict[tuple[str, str], dict[str, Decimal]] = {}

    def spent(scope: str, period: str) -> dict[str, Decimal]:
        if (scope, period) not in cache:
            start, end = period_bounds(period, now, tz)
            cache[scope, period] = period_spend(engine, scope, start, end)
        return cache[scope, period]

    if user_budget is not None:
        amount, period = user_budget
        for user in sorted(spent("user", period)):
            wanted.append(("user", user, user, "active", amount, period))

    lines = []
    for scope, ident, name, status, budget, period in wanted:
        start, end = period_bounds(period, now, tz)
        spend = spent(scope, period).get(ident, Decimal(0))
        lines.append(
            BudgetLine(
                scope=scope,
                id=ident,
                name=name,
                status=status,
                budget_usd=budget,
                period=period,
                period_start=start,
                period_end=end,
                spend_usd=spend,
                remaining_usd=budget - spend,
                forecast_usd=forecast(spend, start, end, now),
            )
        )
    return lines


def to_json(lines: list[BudgetLine], *, now: datetime, tz: str) -> dict[str, Any]:
    """JSON-ready data; amounts are decimal strings with 10 places, exact."""
    return {
        "as_of": now.isoformat(),
        "time_zone": tz,
        "currency": "USD",
        "budgets": [
            {
                "scope": line.scope,
                "id": line.id,
                "name": line.name,
                "status": line.status,
                "budget_usd": cost_text(line.budget_usd),
                "period": line.period,
                "period_start": line.period_start.isoformat(),
                "period_end": line.period_end.isoformat(),
                "spend_usd": cost_text(line.spend_usd),
                "remaining_usd": cost_text(line.remaining_usd),
                "forecast_usd": cost_text(line.forecast_usd),
                "over_budget": line.over_budget,
                "forecast_over": line.forecast_over,
            }
            for line in lines
        ],
    }


def table(lines: list[BudgetLine]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows as text for a terminal table (amounts as ``usd`` shows them)."""
    headers = ["scope", "name", "status", "period", "budget", "spend", "left", "forecast", "used"]
    rows = []
    for line in lines:
        if line.budget_usd:
            used = f"{(line.spend_usd / line.budget_usd * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"
        else:  # a budget of 0: nothing may be spent
            used = "-" if line.spend_usd == 0 else "over"
        status = "exceeded" if line.status == "active" and line.over_budget else line.status
        rows.append(
            [
                line.scope,
                line.name,
                status,
                line.period,
                usd(line.budget_usd),
                usd(line.spend_usd),
                usd(line.remaining_usd),
                usd(line.forecast_usd) + (" !" if line.forecast_over else ""),
                used,
            ]
        )
    return headers, rows
