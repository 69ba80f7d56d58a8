"""Spend sums and budget windows that read the rollups wherever the question fits their grid.

``spend_sums`` (``llmgate report spend``, ``/admin/spend/report``, LiteLLM's spend routes) and
``period_spend`` (budgets) answer exactly what ``store.spend``'s raw queries answer (the same
exact sums: the rollups are kept in the transactions that store the rows), from fewer rows:

- whole local days of ``llmgate.time_zone`` from ``rollup_days``, when the day level is kept in
  that zone and the question needs neither ``user`` nor anything the day grain lacks;
- whole UTC hours from ``rollup_hours`` (grouping by local date only in a zone whose offset is
  whole hours over the range: a :30 zone's midnight falls inside an hour);
- the raw rows for the rest: the partial hours at either end, anything before the levels' coverage
  (``rollup_coverage``), and questions no rollup answers (``feedback``, a rating given later).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.db import describe_error
from llmgate.store.request_filter import tag_value
from llmgate.store.rollup_tables import DAY_DIMENSIONS, ROLLUP_DAYS, ROLLUP_HOURS
from llmgate.store.rollups import Coverage, ceil_hour, floor_hour, next_midnight, read_coverage
from llmgate.store.spend import (
    OUTCOMES,
    SCOPE_COLUMNS,
    SpendSums,
    add_sums,
    check_dimensions,
    group_value,
    local_date,
    offset_segments,
    raw_period_spend,
    raw_sums,
    spend_lines,
    tag_name,
)

#: report dimensions and the rollup column each reads
_COLUMNS = {
    "team": "team_id",
    "key": "key_id",
    "user": "user",
    "model": "model",
    "provider": "provider",
    "endpoint": "endpoint",
}
#: what the day level groups by (it has no user or deployment)
_DAY_FIT = frozenset(d for d, column in _COLUMNS.items() if column in DAY_DIMENSIONS) | {"date", "month"}
_HOUR = timedelta(hours=1)


@dataclass(slots=True)
class Plan:
    """Which parts of ``[since, until)`` each source answers (``None``: no end)."""

    raw: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    hours: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    days: tuple[date, date | None] | None = None


def spend_sums(
    engine: Engine,
    dimensions: Sequence[str],
    since: datetime,
    until: datetime | None = None,
    tz: str = "UTC",
) -> list[SpendSums]:
    """``store.spend.raw_spend_sums``'s answer, read from the rollups where they fit. Besides its
    dimensions, ``month``: the first day of the local month (summed in SQL from the rollups: a
    year by month is hundreds of groups, where by date it is tens of thousands)."""
    check_dimensions([d for d in dimensions if d != "month"])
    raw_dimensions = ["date" if d == "month" else d for d in dimensions]
    if "feedback" in dimensions:
        return spend_lines(
            dimensions, _to_months(dimensions, raw_sums(engine, raw_dimensions, since, until, tz))
        )
    try:
        with engine.connect() as conn:
            coverage = read_coverage(conn)
            days_fit = all(d in _DAY_FIT or tag_name(d) for d in dimensions)
            plan = plan_reads(coverage, since, until, tz, days_fit=days_fit)
            dated = "date" in dimensions or "month" in dimensions
            if dated and plan.hours and not _whole_hour_offsets(conn, tz, plan.hours):
                plan = Plan(raw=[*plan.raw, *plan.hours], days=plan.days)
            parts: list[Sequence[Sequence[Any]]] = [
                conn.execute(_hour_query(conn, dimensions, tz, start, end)).all() for start, end in plan.hours
            ]
            if plan.days is not None:
                parts.append(conn.execute(_day_query(conn, dimensions, tz, *plan.days)).all())
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc
    for start, end in plan.raw:
        parts.append(_to_months(dimensions, raw_sums(engine, raw_dimensions, start, end, tz)))
    if len(parts) == 1:  # one source (a range of whole days, say): its groups are already distinct
        return spend_lines(dimensions, parts[0])
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for part in parts:
        _merge(merged, dimensions, part)
    return spend_lines(dimensions, [(*key, *sums) for key, sums in merged.items()])


def period_spend(
    engine: Engine, scope: str, since: datetime, until: datetime | None = None
) -> dict[str, Decimal]:
    """Recorded cost per key, team or user (``scope``) in ``[since, until)``: whole hours from the
    rollups, the rest from raw rows."""
    column = ROLLUP_HOURS.c[SCOPE_COLUMNS[scope]]
    with engine.connect() as conn:
        plan = plan_reads(read_coverage(conn), since, until, "UTC", days_fit=False)
        totals: dict[str, Decimal] = {}
        for start, end in plan.hours:
            query = sa.select(column, sa.func.sum(ROLLUP_HOURS.c.cost_usd)).where(
                column.is_not(None), *_within(ROLLUP_HOURS.c.hour, start, end)
            )
            for name, total in conn.execute(query.group_by(column)):
                totals[str(name)] = totals.get(str(name), Decimal(0)) + (total or Decimal(0))
    for start, end in plan.raw:
        for name, total in raw_period_spend(engine, scope, start, end).items():
            totals[name] = totals.get(name, Decimal(0)) + total
    return totals


def plan_reads(
    coverage: Coverage, since: datetime, until: datetime | None, tz: str, *, days_fit: bool
) -> Plan:
    """Split ``[since, until)`` between the day level, the hour level and the raw rows."""
    plan = Plan()
    if until is not None and until <= since:
        return plan
    first = max(ceil_hour(since), coverage.hours_from)
    last = floor_hour(until) if until is not None else None
    if last is not None and last <= first:
        plan.raw.append((since, until))
        return plan
    if since < first:
        plan.raw.append((since, first))
    if last is not None and until is not None and last < until:
        plan.raw.append((last, until))
    pieces: list[tuple[datetime, datetime | None]] = [(first, last)]
    level = coverage.day_level
    if days_fit and level is not None and level.time_zone == tz:
        day_start = next_midnight(tz, max(first, level.covered_from))
        day_end = _last_midnight(tz, last) if last is not None else None
        if day_end is None or day_start < day_end:
            zone = ZoneInfo(tz)
            end_day = day_end.astimezone(zone).date() if day_end is not None else None
            plan.days = (day_start.astimezone(zone).date(), end_day)
            pieces = [(first, day_start)] + ([(day_end, last)] if day_end is not None else [])
    for start, end in pieces:
        _split_hours(plan, start, end)
    return plan


# --- internals ------------------------------------------------------------------------------


def _split_hours(plan: Plan, start: datetime, end: datetime | None) -> None:
    """Whole hours of ``[start, end)`` to the hour level, what is left of it to the raw rows."""
    if end is not None and end <= start:
        return
    low = ceil_hour(start)
    high = floor_hour(end) if end is not None else None
    if high is not None and high <= low:
        plan.raw.append((start, end))
        return
    if start < low:
        plan.raw.append((start, low))
    plan.hours.append((low, high))
    if high is not None and end is not None and high < end:
        plan.raw.append((high, end))


def _hour_query(
    conn: Connection, dimensions: Sequence[str], tz: str, start: datetime, end: datetime | None
) -> sa.Select[Any]:
    table = ROLLUP_HOURS
    dialect = conn.dialect.name
    columns: list[sa.ColumnElement[Any]] = []
    for dimension in dimensions:
        if dimension in ("date", "month"):
            day = local_date(dialect, offset_segments(tz, start, _hours_end(conn, end)), table.c.hour)
            columns.append(day if dimension == "date" else _month(dialect, day))
        else:
            columns.append(_dimension(dialect, table, dimension))
    return _grouped(table, columns, _within(table.c.hour, start, end))


def _day_query(
    conn: Connection, dimensions: Sequence[str], tz: str, first: date, last: date | None
) -> sa.Select[Any]:
    table = ROLLUP_DAYS
    dialect = conn.dialect.name
    calendar = {"date": table.c.day, "month": _month(dialect, table.c.day)}
    columns = [calendar[d] if d in calendar else _dimension(dialect, table, d) for d in dimensions]
    where = [table.c.time_zone == tz, table.c.day >= first]
    if last is not None:
        where.append(table.c.day < last)
    return _grouped(table, columns, where)


def _grouped(table: sa.Table, columns: list[sa.ColumnElement[Any]], where: list[Any]) -> sa.Select[Any]:
    """The nine sums of ``store.spend`` per group of ``columns``, over ``table``'s rows in ``where``;
    the columns are computed once, in a subquery, and grouped on by name (as ``store.spend`` does)."""
    inner = sa.select(
        *(column.label(f"g{index}") for index, column in enumerate(columns)),
        *(table.c[name] for name in ("requests", "prompt_tokens", "completion_tokens", "cost_usd")),
        *(table.c[name] for name in ("outcome", "saved_usd", "cache_hits")),
    ).where(*where)
    rows = inner.subquery("r")
    groups = [rows.c[f"g{index}"] for index in range(len(columns))]
    outcomes = [
        sa.func.sum(sa.case((rows.c.outcome == i, rows.c.requests), else_=0)) for i in range(len(OUTCOMES))
    ]
    query = sa.select(
        *groups,
        sa.func.sum(rows.c.requests),
        sa.func.sum(rows.c.prompt_tokens),
        sa.func.sum(rows.c.completion_tokens),
        sa.func.sum(rows.c.cost_usd),
        *outcomes,
        sa.func.sum(rows.c.saved_usd),
        sa.func.sum(rows.c.cache_hits),
    )
    return query.group_by(*groups) if groups else query


def _month(dialect: str, day: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The first day of ``day``'s month (a date on PostgreSQL, ``YYYY-MM-01`` on SQLite)."""
    if dialect == "postgresql":
        return sa.cast(sa.func.date_trunc("month", day), sa.Date)
    return sa.func.strftime("%Y-%m-01", day)


def _to_months(dimensions: Sequence[str], rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    """Raw rows grouped by date, with each ``month`` group's date moved to its month's first day."""
    months = [i for i, d in enumerate(dimensions) if d == "month"]
    if not months:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for i in months:
            day = group_value("date", values[i])
            if isinstance(day, date):
                values[i] = day.replace(day=1)
        out.append(values)
    return out


def _dimension(dialect: str, table: sa.Table, dimension: str) -> sa.ColumnElement[Any]:
    if dimension in _COLUMNS:
        return table.c[_COLUMNS[dimension]]
    name = tag_name(dimension)
    if name is None:  # pragma: no cover - spend_sums routes everything else to the raw rows
        raise ValueError(f"no rollup groups by {dimension!r}")
    return tag_value(dialect, name, table.c.tags_json)


def _merge(
    merged: dict[tuple[Any, ...], list[Any]], dimensions: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    width = len(dimensions)
    for row in rows:
        if row[width]:
            add_sums(merged, tuple(group_value(dimensions[i], row[i]) for i in range(width)), row[width:])


def _whole_hour_offsets(conn: Connection, tz: str, hours: list[tuple[datetime, datetime | None]]) -> bool:
    """Whether every UTC offset of ``tz`` over these hours is whole hours (local midnights on the
    hour grid)."""
    return all(
        offset % 3600 == 0
        for start, end in hours
        for _, offset in offset_segments(tz, start, _hours_end(conn, end))
    )


def _hours_end(conn: Connection, end: datetime | None) -> datetime:
    """``end``, or for an open range just after the newest hour the hour level holds."""
    if end is not None:
        return end
    newest = conn.execute(sa.select(sa.func.max(ROLLUP_HOURS.c.hour))).scalar()
    return (newest + _HOUR) if newest is not None else datetime.now(UTC)


def _within(column: Any, start: datetime, end: datetime | None) -> list[sa.ColumnElement[bool]]:
    return [column >= start] + ([column < end] if end is not None else [])


def _last_midnight(tz: str, moment: datetime) -> datetime:
    """The last local midnight of ``tz`` at or before ``moment``, in UTC."""
    zone = ZoneInfo(tz)
    day = moment.astimezone(zone).date()
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
