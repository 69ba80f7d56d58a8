"""Spend over the recorded requests: budget periods, the sums budgets are checked against, and the
grouped sums behind the spend reports (``spend_sums``), with how each request ended (``OUTCOMES``).

Periods (``daily``, ``weekly`` starting Monday, ``monthly``) begin at midnight in the configured
time zone (``llmgate.time_zone``, an IANA name; UTC by default), so a budget resets on the
calendar boundary finance expects, daylight-saving changes included. Sums are exact ``Decimal``
(``Money`` columns), never floats.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.db import describe_error
from llmgate.store.feedback_ratings import rating_label, request_rank
from llmgate.store.models import UTCDateTime, requests_table
from llmgate.store.request_filter import tag_value

#: which requests column each budget scope is summed by
SCOPE_COLUMNS = {"key": "key_id", "team": "team_id", "user": "user"}


def raw_period_spend(
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


# --- spend reports ---------------------------------------------------------------------------
#
# ``raw_spend_sums`` sums the request rows: ``store/rollup_reads.py`` (``llmgate report spend``,
# ``/admin/spend/report``) calls it where the rollups do not answer (partial hours, before their
# coverage). Requests, prompt and completion tokens, cost, cache hits and savings per group, in
# SQL (exact: integers and ``Money``). Local calendar days are exact in both stores, daylight
# saving and offsets of :30 and :45 included, and agree with Python's tz database:
#
# - PostgreSQL sums in one query, hash-aggregated. Between two UTC-offset changes of
#   the zone the offset is constant, so the local date is ``date(created_at + offset)``, the offset
#   picked by a short ``CASE`` over the transitions in range (found here with ``zoneinfo``).
# - SQLite has no hash aggregate: it sorts to group. It sums one local day at a time
#   (``_sqlite_sums_by_day``), its rows found through ``ix_requests_created_at_model``.
#
# Weeks and months are roll-ups of local days (``reports/spend.py``).

#: How a recorded request ended, as the reports count it; ``requests`` is their sum.
#: ``succeeded``: answered. ``rejected``: refused by the gateway before any upstream was called, a
#: 4xx without a provider (a budget or rate limit 429, a model the key may not use 403, an unknown
#: model 404, a body it would not take 400 or 413; 401s are never recorded). ``failed``: every other
#: error (the upstream's, its own 4xx and 429 included, timeouts, no deployment left, the gateway's
#: 5xx, a stream cut short, a client that left).
OUTCOMES = ("succeeded", "failed", "rejected")

#: Dimensions ``spend_sums`` groups by, besides ``tag:NAME``; ``date`` is the local date, ``feedback``
#: the users' combined rating of the request (``store/feedback_ratings.py``: good, bad, unrated).
SPEND_DIMENSIONS = ("team", "key", "user", "model", "provider", "endpoint", "date", "feedback")
_DIMENSION_COLUMNS = {
    "team": "team_id",
    "key": "key_id",
    "user": "user",
    "model": "model",
    "provider": "provider",
    "endpoint": "endpoint",  # the path after /v1/ (protocol/endpoints.py)
}
TAG_PREFIX = "tag:"
_TRANSITION_STEP = timedelta(hours=3)  # no zone changes its offset twice within 3 hours
_SQLITE_WORKERS = 4  # threads summing SQLite days at once (no more than the cores)


@dataclass(frozen=True, slots=True)
class SpendSums:
    """The sums of one group: ``groups`` holds one value per requested dimension, in order."""

    groups: tuple[str | date | None, ...]
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    saved_usd: Decimal = Decimal(0)  # what the response cache's hits would have cost
    cache_hits: int = 0  # requests the response cache answered (exact or semantic)


def tag_name(dimension: str) -> str | None:
    """``NAME`` of a ``tag:NAME`` dimension (``None`` for other dimensions); rejects unusable names."""
    if not dimension.startswith(TAG_PREFIX):
        return None
    name = dimension[len(TAG_PREFIX) :]
    if not name or '"' in name or "\\" in name:
        raise ValueError(f"invalid tag name in {dimension!r}")
    return name


def offset_segments(tz: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offsets over ``[start, end)``: ``[(from, seconds)]``, each valid until the next."""
    zone = ZoneInfo(tz)

    def offset_at(seconds: int) -> int:
        moment = datetime.fromtimestamp(seconds, UTC).astimezone(zone)
        delta = moment.utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    step = int(_TRANSITION_STEP.total_seconds())
    at, stop = math.floor(start.timestamp()), math.floor(end.timestamp()) + 1
    current = offset_at(at)
    segments = [(start, current)]
    while at < stop:
        following = min(at + step, stop)
        if offset_at(following) != current:
            low, high = at, following  # offset_at(low) == current != offset_at(high)
            while high - low > 1:
                middle = (low + high) // 2
                if offset_at(middle) == current:
                    low = middle
                else:
                    high = middle
            current = offset_at(high)
            segments.append((datetime.fromtimestamp(high, UTC), current))
        at = following
    return segments


def raw_spend_sums(
    engine: Engine,
    dimensions: Sequence[str],
    since: datetime,
    until: datetime | None = None,
    tz: str = "UTC",
) -> list[SpendSums]:
    """Requests, tokens and cost of the requests in ``[since, until)``, grouped by ``dimensions``.

    Every request counts, successful or not, and also counts as one of ``OUTCOMES``; a NULL cost
    or token count adds 0. ``saved_usd`` sums what the response cache's hits saved, ``cache_hits``
    counts them. ``key`` groups by
    ``key_id``, ``team`` by ``team_id``, ``tag:NAME`` by that tag's value (``None`` without it),
    ``date`` by the local date in ``tz`` (a ``datetime.date``), ``feedback`` by the users' rating
    (``good``, ``bad``, ``unrated``). Rows come in no particular order.
    """
    check_dimensions(dimensions)
    return spend_lines(dimensions, raw_sums(engine, dimensions, since, until, tz))


def check_dimensions(dimensions: Sequence[str]) -> None:
    """Refuse a dimension ``spend_sums`` does not group by (``ValueError``)."""
    for dimension in dimensions:
        if dimension not in SPEND_DIMENSIONS and tag_name(dimension) is None:
            raise ValueError(f"unknown spend dimension {dimension!r}")


def raw_sums(
    engine: Engine, dimensions: Sequence[str], since: datetime, until: datetime | None, tz: str
) -> Sequence[Sequence[Any]]:
    """The raw rows' grouped sums: one row per group, its values then ``add_sums``'s nine sums."""
    try:
        return _sums(engine, dimensions, since, until, tz)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc


def spend_lines(dimensions: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[SpendSums]:
    """Grouped rows (the group's values, then the nine sums) as ``SpendSums``, groups read back
    into their Python types; a group of no requests is left out."""
    width = len(dimensions)
    return [
        SpendSums(
            groups=tuple(group_value(dimensions[i], row[i]) for i in range(width)),
            requests=int(row[width]),
            prompt_tokens=int(row[width + 1] or 0),
            completion_tokens=int(row[width + 2] or 0),
            cost_usd=row[width + 3] if row[width + 3] is not None else Decimal(0),
            succeeded=int(row[width + 4] or 0),
            failed=int(row[width + 5] or 0),
            rejected=int(row[width + 6] or 0),
            saved_usd=row[width + 7] if row[width + 7] is not None else Decimal(0),
            cache_hits=int(row[width + 8] or 0),
        )
        for row in rows
        if row[width]  # no group-by over no rows still answers one row of zeros
    ]


def _sums(
    engine: Engine, dimensions: Sequence[str], since: datetime, until: datetime | None, tz: str
) -> Sequence[Sequence[Any]]:
    created_at = requests_table().c.created_at
    in_range = [created_at >= since]
    if until is not None:
        in_range.append(created_at < until)
    if engine.dialect.name == "sqlite":
        return _sqlite_sums_by_day(engine, dimensions, in_range, tz)
    with engine.connect() as conn:
        columns: list[sa.ColumnElement[Any]] = []
        for dimension in dimensions:
            if dimension == "date":
                # the zone's offsets over the records' own span, not the asked one: a range of
                # 1970..8999 would otherwise walk 7,000 years in 3-hour steps
                start, end = _data_span(conn, in_range) or (since, since)
                columns.append(local_date("postgresql", offset_segments(tz, start, end)))
            else:
                columns.append(_dimension_expression("postgresql", dimension))
        return conn.execute(_grouped(columns, in_range)).all()


def _grouped(columns: list[sa.ColumnElement[Any]], where: list[sa.ColumnElement[bool]]) -> sa.Select[Any]:
    """``SELECT <columns>, count, sums ... GROUP BY <columns>`` over the requests matching ``where``.

    The columns are computed once, in a subquery, and grouped on by name: grouped expressions with
    bound parameters (tag names, offsets) would otherwise not be recognised as equal.
    """
    requests = requests_table()
    inner = sa.select(
        *(column.label(f"g{index}") for index, column in enumerate(columns)),
        requests.c.prompt_tokens,
        requests.c.completion_tokens,
        requests.c.cost_usd,
        requests.c.status,
        requests.c.status_code,
        requests.c.provider.label("outcome_provider"),
        requests.c.saved_usd,
        requests.c.cache_hit,
    ).where(*where)
    rows = inner.subquery("r")
    groups = [rows.c[f"g{index}"] for index in range(len(columns))]
    query = sa.select(
        *groups,
        sa.func.count(),
        sa.func.sum(rows.c.prompt_tokens),
        sa.func.sum(rows.c.completion_tokens),
        sa.func.sum(rows.c.cost_usd),  # keeps the Money type: exact Decimals on both stores
        *_outcome_counts(rows),
        sa.func.sum(rows.c.saved_usd),  # Money, as the cost
        sa.func.sum(sa.case((rows.c.cache_hit, 1), else_=0)),
    )
    return query.group_by(*groups) if groups else query


def _outcome_counts(rows: sa.Subquery) -> list[sa.ColumnElement[Any]]:
    """How many of the rows ``succeeded``, ``failed`` and were ``rejected`` (see ``OUTCOMES``)."""
    outcome = outcome_index(rows.c.status, rows.c.status_code, rows.c.outcome_provider)
    return [sa.func.sum(sa.case((outcome == index, 1), else_=0)) for index in range(len(OUTCOMES))]


def outcome_index(status: Any, status_code: Any, provider: Any) -> sa.ColumnElement[int]:
    """How a request ended, as its index in ``OUTCOMES`` (0 succeeded, 1 failed, 2 rejected), from
    its ``status``, ``status_code`` and ``provider`` columns: the one rule, also the ops report's."""
    succeeded = status == "success"
    refused = sa.and_(provider.is_(None), status_code >= 400, status_code < 500)
    outcome: sa.ColumnElement[int] = sa.case((succeeded, 0), (refused, 2), else_=1)
    return outcome


def _sqlite_sums_by_day(
    engine: Engine, dimensions: Sequence[str], in_range: list[sa.ColumnElement[bool]], tz: str
) -> list[tuple[Any, ...]]:
    """SQLite: one grouped query per local day, on a couple of threads, merged here.

    SQLite groups by sorting every row; sorting a day's rows at a time is several times faster
    than one sort of them all (the sort fits in cache and never spills to a temporary file), and
    each query reads just its day's rows (``ix_requests_created_at_model``). A day's local date comes
    from its bounds, so ``date`` costs nothing per row. SQLite runs a query without holding the
    GIL, so a file store answers on several cores at once.
    """
    created_at = requests_table().c.created_at
    with engine.connect() as conn:
        bounds = sa.select(sa.func.min(created_at), sa.func.max(created_at)).where(*in_range)
        first, last = conn.execute(bounds).one()
    if first is None:
        return []
    others = [d for d in dimensions if d != "date"]
    columns = [_dimension_expression("sqlite", d) for d in others]
    low, high = sa.bindparam("low", type_=UTCDateTime()), sa.bindparam("high", type_=UTCDateTime())
    query = _grouped(columns, [created_at >= low, created_at < high])
    place = [others.index(d) if d != "date" else -1 for d in dimensions]
    width = len(others)  # then count, prompt and completion tokens, cost, the outcome counts, saved, hits
    days = list(local_days(tz, first, last + timedelta(microseconds=1)))

    def run(part: list[tuple[date, datetime, datetime]]) -> dict[tuple[Any, ...], list[Any]]:
        merged: dict[tuple[Any, ...], list[Any]] = {}
        with engine.connect() as conn:
            for day, start, end in part:
                for row in conn.execute(query, {"low": start, "high": end}):
                    if row[width]:
                        add_sums(merged, tuple(day if i < 0 else row[i] for i in place), row[width:])
        return merged

    workers = min(_SQLITE_WORKERS, os.cpu_count() or 1, len(days) // 8)
    database = engine.url.database or ""
    if workers < 2 or database in ("", ":memory:") or "mode=memory" in database:  # one shared connection
        parts = [run(days)]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="llmgate-spend") as pool:
            parts = list(pool.map(run, [days[i::workers] for i in range(workers)]))
    total = parts[0]
    for part in parts[1:]:
        for key, sums in part.items():
            add_sums(total, key, sums)
    return [(*key, *sums) for key, sums in total.items()]


def add_sums(merged: dict[tuple[Any, ...], list[Any]], key: tuple[Any, ...], sums: Sequence[Any]) -> None:
    acc = merged.get(key)
    if acc is None:
        merged[key] = acc = [0, 0, 0, Decimal(0), *(0 for _ in OUTCOMES), Decimal(0), 0]
    for index, value in enumerate(sums):
        acc[index] += value or 0


def local_days(tz: str, start: datetime, end: datetime) -> Iterator[tuple[date, datetime, datetime]]:
    """The local days of ``tz`` that ``[start, end)`` touches, each as (date, from, to) clipped to it."""
    zone = ZoneInfo(tz)
    day = start.astimezone(zone).date()
    while True:
        begin = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        following = day + timedelta(days=1)
        finish = datetime(following.year, following.month, following.day, tzinfo=zone).astimezone(UTC)
        if begin >= end:
            return
        yield day, max(begin, start), min(finish, end)
        day = following


def _data_span(
    conn: sa.Connection, in_range: list[sa.ColumnElement[bool]]
) -> tuple[datetime, datetime] | None:
    """The oldest request in range and just after the newest (indexed lookups), to bound the
    offset segments; ``None`` when no request is in range."""
    created_at = requests_table().c.created_at
    query = sa.select(sa.func.min(created_at), sa.func.max(created_at)).where(*in_range)
    oldest, newest = conn.execute(query).one()
    if oldest is None or newest is None:
        return None
    return oldest, newest + timedelta(microseconds=1)


def _dimension_expression(dialect: str, dimension: str) -> sa.ColumnElement[Any]:
    requests = requests_table()
    if dimension in _DIMENSION_COLUMNS:
        return requests.c[_DIMENSION_COLUMNS[dimension]]
    if dimension == "feedback":
        return rating_label(request_rank(dialect, requests.c.id))
    name = tag_name(dimension)
    if name is None:
        raise ValueError(f"unknown spend dimension {dimension!r}")
    return tag_value(dialect, name)


def local_date(
    dialect: str, segments: list[tuple[datetime, int]], moment: sa.ColumnElement[Any] | None = None
) -> sa.ColumnElement[Any]:
    """The local date of ``moment`` (``created_at`` by default), its UTC time plus its segment's
    offset. SQLite answers text (``YYYY-MM-DD``), PostgreSQL a date."""
    moment = requests_table().c.created_at if moment is None else moment
    if dialect == "sqlite":
        modifiers = [sa.literal(f"{offset:+d} seconds", sa.String) for _, offset in segments]
        modifier: sa.ColumnElement[Any] = modifiers[0]
        if len(modifiers) > 1:
            pairs = zip(segments[1:], modifiers[:-1], strict=True)
            modifier = sa.case(*((moment < start, value) for (start, _), value in pairs), else_=modifiers[-1])
        return sa.func.date(moment, modifier)
    shifts = [sa.literal(timedelta(seconds=offset), sa.Interval()) for _, offset in segments]
    shift: sa.ColumnElement[Any] = shifts[0]
    if len(shifts) > 1:
        whens = [(moment < start, value) for (start, _), value in zip(segments[1:], shifts[:-1], strict=True)]
        shift = sa.case(*whens, else_=shifts[-1])
    return sa.cast(sa.func.timezone("UTC", moment) + shift, sa.Date)


def group_value(dimension: str, value: Any) -> str | date | None:
    if value is None:
        return None
    if dimension in ("date", "month"):
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return str(value)
