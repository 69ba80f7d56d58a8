"""The dashboard's time series (``store/traffic.py``) read from the hour rollups where they fit.

A series fits the hour grid when its buckets are a whole number of hours wide and the zone's UTC
offset stays a whole number of hours over the range: then each UTC hour falls in one bucket, the
one its rows fall in. The whole hours from the hour level's coverage (``rollup_coverage``) on come
from ``rollup_traffic`` (the hour level per outcome alone), summed per bucket in SQL; the partial
hours at either end and anything before the coverage come from the raw rows, as before
(``plan_series``). Counts, tokens and cost are the
raw rows' exact sums either way (the rollups are kept in the rows' own transactions).

Latency p50/p95 of a bucket that holds any rollup hour, and of the whole range then, come from the
latency histogram of its successful requests: the hours' ``lat_*`` sums plus the raw rows'
latencies counted into the same buckets in SQL (by ``store/rollup_statements.py``'s rule), read
back by ``latency_sketch.histogram_percentile`` (within one bucket, a factor of sqrt(2), of the exact
value). Buckets of raw rows alone keep the exact percentiles. A series that does not fit is read
from the raw rows alone (``raw_plan``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from llmgate.store.latency_sketch import histogram_percentile
from llmgate.store.rollup_statements import latency_bucket_sql
from llmgate.store.rollup_tables import LATENCY_BUCKETS, ROLLUP_TRAFFIC
from llmgate.store.rollups import ceil_hour, floor_hour, read_coverage
from llmgate.store.spend import offset_segments

_HOUR_S = 3600
_HOUR = timedelta(hours=1)

#: a latency percentile pair: (p50, p95) in ms
Percentiles = tuple[float | None, float | None]


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """Which parts of a series' range each source answers: ``raw`` from the request rows,
    ``hours`` (whole UTC hours, ``None``: none) from ``rollup_traffic``; ``mixed``: the first and
    last bucket holding rollup hours; ``exact``: the part of the range in the other buckets (made
    of raw rows alone: exact percentiles)."""

    raw: list[tuple[datetime, datetime]]
    exact: list[tuple[datetime, datetime]]
    hours: tuple[datetime, datetime] | None = None
    mixed: tuple[int, int] | None = None


@dataclass(slots=True)
class HourSums:
    """A bucket's sums from ``rollup_traffic``; ``latencies``: its successful requests' histogram."""

    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)
    latencies: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))


def epoch_seconds(dialect: str, column: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    """Whole seconds since 1970 (UTC) of a ``UTCDateTime`` column, in SQL."""
    if dialect == "sqlite":  # stored as UTC wall-clock text
        return sa.cast(sa.func.strftime("%s", column), sa.BigInteger)
    return sa.cast(sa.func.floor(sa.extract("epoch", column)), sa.BigInteger)


def bucket_index(
    dialect: str, column: sa.ColumnElement[Any], offset: int, bucket_seconds: int
) -> sa.ColumnElement[int]:
    """The series bucket a moment falls in: ``(epoch seconds + offset) // width``, in SQL."""
    # the offset and width as SQL literals: PostgreSQL must see the same expression in GROUP BY
    shift = sa.literal_column(str(int(offset)), sa.BigInteger)
    width = sa.literal_column(str(int(bucket_seconds)), sa.BigInteger)
    return (epoch_seconds(dialect, column) + shift) // width


def raw_plan(since: datetime, until: datetime) -> SeriesPlan:
    """Everything from the raw rows."""
    return SeriesPlan(raw=[(since, until)], exact=[(since, until)])


def plan_series(
    conn: Connection, tz: str, since: datetime, until: datetime, bucket_seconds: int, offset: int
) -> SeriesPlan:
    """Split ``[since, until)`` between the hour rollups and the raw rows, for buckets of
    ``bucket_seconds`` shifted by ``offset`` (the zone's at ``since``, as ``traffic_series`` uses)."""
    if bucket_seconds % _HOUR_S or any(o % _HOUR_S for _, o in offset_segments(tz, since, until)):
        return raw_plan(since, until)
    first = max(ceil_hour(since), read_coverage(conn).hours_from)
    last = floor_hour(until)
    if last <= first:
        return raw_plan(since, until)
    raw = ([(since, first)] if since < first else []) + ([(last, until)] if last < until else [])
    low = _index(first, offset, bucket_seconds)
    high = _index(last - _HOUR, offset, bucket_seconds)
    low_start = datetime.fromtimestamp(low * bucket_seconds - offset, UTC)
    high_end = datetime.fromtimestamp((high + 1) * bucket_seconds - offset, UTC)
    exact = ([(since, low_start)] if since < low_start else []) + (
        [(high_end, until)] if high_end < until else []
    )
    return SeriesPlan(raw=raw, exact=exact, hours=(first, last), mixed=(low, high))


def within(
    column: sa.ColumnElement[Any], ranges: Sequence[tuple[datetime, datetime]]
) -> sa.ColumnElement[bool]:
    """``column`` in any of ``ranges`` (each ``[start, end)``); false for none."""
    if not ranges:
        return sa.false()
    return sa.or_(*(sa.and_(column >= start, column < end) for start, end in ranges))


def read_hours(conn: Connection, plan: SeriesPlan, offset: int, bucket_seconds: int) -> dict[int, HourSums]:
    """The sums of ``plan``'s whole hours per bucket, from ``rollup_traffic`` (``rollup_hours``
    summed over all but the outcome, kept beside it: a year is ~26,000 rows there)."""
    if plan.hours is None:
        return {}
    table = ROLLUP_TRAFFIC
    index = bucket_index(conn.dialect.name, table.c.hour, offset, bucket_seconds).label("bucket")
    query = (
        sa.select(
            index,
            table.c.outcome,
            sa.func.sum(table.c.requests),
            sa.func.sum(table.c.prompt_tokens),
            sa.func.sum(table.c.completion_tokens),
            sa.func.sum(table.c.cost_usd),  # keeps the Money type: exact Decimals
            *(sa.func.sum(table.c[name]) for name in LATENCY_BUCKETS),
        )
        .where(table.c.hour >= plan.hours[0], table.c.hour < plan.hours[1])
        .group_by(index, table.c.outcome)
    )
    out: dict[int, HourSums] = {}
    for number, outcome, requests, prompt, completion, cost, *latencies in conn.execute(query):
        sums = out.setdefault(int(number), HourSums())
        sums.requests += int(requests or 0)
        sums.input_tokens += int(prompt or 0)
        sums.output_tokens += int(completion or 0)
        sums.cost_usd += cost if cost is not None else Decimal(0)
        if outcome == 0:  # succeeded: status "success", the latency percentiles' requests
            sums.latencies = [a + int(b or 0) for a, b in zip(sums.latencies, latencies, strict=True)]
        else:  # status "error"
            sums.errors += int(requests or 0)
    return out


def raw_histograms(
    conn: Connection,
    latency: sa.ColumnElement[Any],
    where: sa.ColumnElement[bool],
    index: sa.ColumnElement[Any],
) -> dict[int, list[int]]:
    """Latency histograms (as ``lat_*``) per bucket of the raw rows in ``where``, counted in SQL
    by ``store/rollup_statements.py``'s rule (``latency_sketch.latency_bucket`` in Python)."""
    rows = (
        sa.select(index.label("bucket"), latency_bucket_sql(conn.dialect.name, latency).label("lat"))
        .where(where)
        .subquery("raw_latencies")
    )
    query = sa.select(rows.c.bucket, rows.c.lat, sa.func.count()).group_by(rows.c.bucket, rows.c.lat)
    out: dict[int, list[int]] = {}
    for number, lat, count in conn.execute(query):
        out.setdefault(int(number), [0] * len(LATENCY_BUCKETS))[int(lat)] += int(count)
    return out


def histogram_latencies(
    plan: SeriesPlan, hours: dict[int, HourSums], raw: dict[int, list[int]]
) -> tuple[dict[int, Percentiles], Percentiles]:
    """p50 and p95 from the histograms: per bucket holding rollup hours, and over the whole range."""
    low, high = plan.mixed if plan.mixed is not None else (0, -1)
    total = [0] * len(LATENCY_BUCKETS)
    per_bucket: dict[int, Percentiles] = {}
    for number in set(hours) | set(raw):
        counts = list(hours[number].latencies) if number in hours else [0] * len(LATENCY_BUCKETS)
        for i, count in enumerate(raw.get(number, ())):
            counts[i] += count
        total = [a + b for a, b in zip(total, counts, strict=True)]
        if low <= number <= high:
            per_bucket[number] = (histogram_percentile(counts, 0.5), histogram_percentile(counts, 0.95))
    return per_bucket, (histogram_percentile(total, 0.5), histogram_percentile(total, 0.95))


def _index(moment: datetime, offset: int, bucket_seconds: int) -> int:
    return (int(moment.timestamp()) + offset) // bucket_seconds
