"""Traffic over the recorded requests, for the dashboard: time series, request search, filter values.

- ``traffic_series``: requests, errors, tokens, cost and p50/p95 latency per time bucket over
  ``[since, until)``, plus the same figures for the whole range. Counts and sums are aggregated in
  SQL; percentiles too, portably: a window function ranks each bucket's latencies and only the
  two rows at the nearest ranks (``ceil(p * n)``) come back, so a month of traffic costs a sort
  in the database and a few hundred rows on the wire, on SQLite and PostgreSQL alike. Latency
  percentiles are over successful requests (an instant 404 for an unknown model says nothing
  about the upstreams); buckets start at multiples of their width in local time (``tz``). Where
  the buckets fit the hour grid, whole UTC hours are read from ``rollup_hours`` instead, and the
  percentiles of buckets holding them from their latency histogram (``store/traffic_rollups.py``);
  ``raw_traffic_series`` reads the raw rows alone, as ``traffic_series`` did before the rollups.
- ``traffic_by_feedback``: the same figures for the whole range per users' rating of the requests
  (``good``, ``bad``, ``unrated``: ``store/feedback_ratings.py``), for the overview's split.
- ``search_requests``: the newest requests first, filtered as ``store.request_filter`` says
  (model, status, key, team, user, tags, free text in the prompt or the response), a page at a
  time with a keyset cursor. The scan stops at the page size.
- ``filter_values``: the models and tag names seen in a range (capped), for the filter menus.

Read-only, Core SQL, no ORM objects; store errors are raised as ``StoreError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.body_search import newest, older_than
from llmgate.store.db import describe_error
from llmgate.store.feedback_ratings import RATINGS, UNRATED, request_rank
from llmgate.store.models import requests_table
from llmgate.store.request_filter import MAX_TEXT, RequestFilter, conditions
from llmgate.store.traffic_rollups import (
    bucket_index,
    histogram_latencies,
    plan_series,
    raw_histograms,
    raw_plan,
    read_hours,
    within,
)

__all__ = [
    "MAX_TEXT",
    "RequestFilter",
    "filter_values",
    "pick_bucket_seconds",
    "raw_traffic_series",
    "search_requests",
    "traffic_by_feedback",
    "traffic_series",
]

#: most rows one search page returns
MAX_PAGE = 500
#: characters of the request JSON and the response a search result carries, for previews
HEAD_CHARS = 2000
#: most distinct models / tag sets read for the filter menus
MAX_VALUES = 500

#: the columns a search result carries (the large text columns stay in the store)
SUMMARY_COLUMNS = (
    "id",
    "created_at",
    "endpoint",
    "model",
    "deployment",
    "provider",
    "auth_identity",
    "user",
    "stream",
    "status",
    "status_code",
    "error_type",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "cost_unknown",
    "latency_ms",
    "ttft_ms",
    "attempts",
    "key_id",
    "team_id",
    "tags_json",
)


@dataclass(slots=True)
class Bucket:
    """The figures of one time bucket (or of the whole range); latencies in milliseconds."""

    start: datetime
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)
    p50_ms: float | None = None
    p95_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Series:
    since: datetime
    until: datetime
    bucket_seconds: int
    buckets: list[Bucket]  # every bucket of the range, empty ones included, oldest first
    totals: Bucket


# --- time series -------------------------------------------------------------------------------


def traffic_series(
    engine: Engine, since: datetime, until: datetime, bucket_seconds: int, tz: str = "UTC"
) -> Series:
    """Requests, errors, tokens, cost and latency percentiles per bucket; see the module docstring."""
    return _series(engine, since, until, bucket_seconds, tz, rollups=True)


def raw_traffic_series(
    engine: Engine, since: datetime, until: datetime, bucket_seconds: int, tz: str = "UTC"
) -> Series:
    """``traffic_series`` from the raw rows alone (its answer before the rollups), for checks."""
    return _series(engine, since, until, bucket_seconds, tz, rollups=False)


def _series(
    engine: Engine, since: datetime, until: datetime, bucket_seconds: int, tz: str, *, rollups: bool
) -> Series:
    if until <= since:
        raise ValueError("until must be later than since")
    if bucket_seconds <= 0:
        raise ValueError("bucket_seconds must be positive")
    offset = _utc_offset(tz, since)
    table = requests_table()
    index = bucket_index(engine.dialect.name, table.c.created_at, offset, bucket_seconds).label("bucket")
    error = sa.case((table.c.status == "error", 1), else_=0)
    success = table.c.status == "success"
    try:
        with engine.connect() as conn:
            plan = (
                plan_series(conn, tz, since, until, bucket_seconds, offset)
                if rollups
                else raw_plan(since, until)
            )
            in_raw = within(table.c.created_at, plan.raw)
            sums = sa.select(
                index,
                sa.func.count(),
                sa.func.sum(error),
                sa.func.sum(table.c.prompt_tokens),
                sa.func.sum(table.c.completion_tokens),
                sa.func.sum(table.c.cost_usd),
            ).where(in_raw)
            sum_rows = conn.execute(sums.group_by(index)).all() if plan.raw else []
            exact_ok = sa.and_(within(table.c.created_at, plan.exact), success)
            per_bucket = _percentiles(conn, table, exact_ok, index) if plan.exact else {}
            hours = read_hours(conn, plan, offset, bucket_seconds)
            if plan.mixed is None:
                overall = _percentiles(conn, table, sa.and_(in_raw, success), None).get(0, (None, None))
            else:
                ok = sa.and_(in_raw, success)
                histograms = raw_histograms(conn, table.c.latency_ms, ok, index) if plan.raw else {}
                mixed, overall = histogram_latencies(plan, hours, histograms)
                per_bucket.update(mixed)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc

    first = (int(since.timestamp()) + offset) // bucket_seconds
    last = (int(_ceil_seconds(until)) - 1 + offset) // bucket_seconds
    buckets = {
        i: Bucket(datetime.fromtimestamp(i * bucket_seconds - offset, UTC)) for i in range(first, last + 1)
    }
    totals = Bucket(since)
    from_rollups = [
        (n, s.requests, s.errors, s.input_tokens, s.output_tokens, s.cost_usd) for n, s in hours.items()
    ]
    for number, requests, errors, prompt, completion, cost in [*sum_rows, *from_rollups]:
        bucket = buckets.get(int(number))
        if bucket is None:  # pragma: no cover - every row in range falls in a bucket
            continue
        for target in (bucket, totals):
            target.requests += int(requests)
            target.errors += int(errors or 0)
            target.input_tokens += int(prompt or 0)
            target.output_tokens += int(completion or 0)
            target.cost_usd += cost if cost is not None else Decimal(0)
    for number, (p50, p95) in per_bucket.items():
        if number in buckets:
            buckets[number].p50_ms, buckets[number].p95_ms = p50, p95
    totals.p50_ms, totals.p95_ms = overall
    return Series(since, until, bucket_seconds, [buckets[i] for i in sorted(buckets)], totals)


def traffic_by_feedback(engine: Engine, since: datetime, until: datetime) -> dict[str, Bucket]:
    """The figures of ``traffic_series``'s totals per users' rating (``RATINGS``, each present),
    over the requests in ``[since, until)``; each bucket's ``start`` is ``since``."""
    table = requests_table()
    rated = (
        sa.select(
            request_rank(engine.dialect.name, table.c.id).label("rank"),
            table.c.status,
            table.c.latency_ms,
            table.c.prompt_tokens,
            table.c.completion_tokens,
            table.c.cost_usd,
        )
        .where(table.c.created_at >= since, table.c.created_at < until)
        .subquery("rated")
    )
    sums = sa.select(
        rated.c.rank,
        sa.func.count(),
        sa.func.sum(sa.case((rated.c.status == "error", 1), else_=0)),
        sa.func.sum(rated.c.prompt_tokens),
        sa.func.sum(rated.c.completion_tokens),
        sa.func.sum(rated.c.cost_usd),  # keeps the Money type: exact Decimals
    ).group_by(rated.c.rank)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sums).all()
            latencies = _percentiles(conn, rated, rated.c.status == "success", rated.c.rank)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc
    names = {0: UNRATED, 1: "good", 2: "bad"}
    out = {rating: Bucket(since) for rating in RATINGS}
    for rank, requests, errors, prompt, completion, cost in rows:
        bucket = out[names[int(rank)]]
        bucket.requests, bucket.errors = int(requests), int(errors or 0)
        bucket.input_tokens, bucket.output_tokens = int(prompt or 0), int(completion or 0)
        bucket.cost_usd = cost if cost is not None else Decimal(0)
    for rank, (p50, p95) in latencies.items():
        out[names[rank]].p50_ms, out[names[rank]].p95_ms = p50, p95
    return out


def _percentiles(
    conn: sa.Connection,
    table: sa.Table | sa.Subquery,
    where: sa.ColumnElement[bool],
    index: sa.ColumnElement[Any] | None,
) -> dict[int, tuple[float | None, float | None]]:
    """p50 and p95 (nearest rank) of ``latency_ms`` per bucket (``0`` when ``index`` is None)."""
    partition = [index] if index is not None else None
    group = index if index is not None else sa.literal(0)
    ranked = (
        sa.select(
            group.label("bucket"),
            table.c.latency_ms.label("latency"),
            sa.func.row_number().over(partition_by=partition, order_by=table.c.latency_ms).label("rn"),
            sa.func.count().over(partition_by=partition).label("n"),
        )
        .where(where)
        .subquery()
    )
    # nearest rank ceil(p * n), in integers: ceil(n / 2) and ceil(95 n / 100)
    r50 = (ranked.c.n + 1) // 2
    r95 = (ranked.c.n * 95 + 99) // 100
    query = sa.select(ranked.c.bucket, ranked.c.latency, ranked.c.rn == r50, ranked.c.rn == r95).where(
        sa.or_(ranked.c.rn == r50, ranked.c.rn == r95)
    )
    out: dict[int, tuple[float | None, float | None]] = {}
    for bucket, latency, is50, is95 in conn.execute(query):
        p50, p95 = out.get(int(bucket), (None, None))
        out[int(bucket)] = (float(latency) if is50 else p50, float(latency) if is95 else p95)
    return out


def _utc_offset(tz: str, at: datetime) -> int:
    delta = at.astimezone(ZoneInfo(tz)).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _ceil_seconds(moment: datetime) -> float:
    seconds = moment.timestamp()
    return float(int(seconds) + (1 if seconds > int(seconds) else 0))


# --- request search ----------------------------------------------------------------------------


def search_requests(
    engine: Engine,
    where: RequestFilter,
    *,
    before: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Summaries of matching requests, newest first, older than ``before``.

    Each has the ``SUMMARY_COLUMNS``, ``request_head`` (the first ``HEAD_CHARS`` of the stored
    request JSON) and ``response_head`` (of the response text), so a list can show previews
    without reading whole conversations. ``before`` is the ``(created_at, id)`` of the last row
    of the previous page.
    """
    table = requests_table()
    columns: list[sa.ColumnElement[Any]] = [table.c[name] for name in SUMMARY_COLUMNS]
    columns += [table.c.request_json, table.c.response_text]  # packed: previews cut once read
    query = sa.select(*columns).order_by(table.c.created_at.desc(), table.c.id.desc())
    query = query.where(*conditions(where, engine.dialect.name))
    if before is not None:
        query = query.where(older_than(*before))
    limit = max(1, min(limit, MAX_PAGE))
    try:
        with engine.connect() as conn:
            rows = newest(conn, query, limit, where.text)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc
    for row in rows:
        row["request_head"] = _head(row.pop("request_json"))
        row["response_head"] = _head(row.pop("response_text"))
    return rows


def _head(body: str | None) -> str | None:
    return None if body is None else body[:HEAD_CHARS]


# --- filter values -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilterValues:
    models: list[str]
    tags: list[str]  # tag names (keys of the requests' tags)


def filter_values(engine: Engine, since: datetime, until: datetime | None = None) -> FilterValues:
    """The models and tag names of the requests in ``[since, until)`` (at most ``MAX_VALUES`` each)."""
    table = requests_table()
    in_range = [table.c.created_at >= since]
    if until is not None:
        in_range.append(table.c.created_at < until)
    models = sa.select(table.c.model).where(*in_range).distinct().order_by(table.c.model).limit(MAX_VALUES)
    tag_sets = (
        sa.select(table.c.tags_json)
        .where(*in_range, table.c.tags_json.is_not(None))
        .distinct()
        .limit(MAX_VALUES)
    )
    try:
        with engine.connect() as conn:
            model_names = [str(m) for m in conn.execute(models).scalars()]
            tag_texts = list(conn.execute(tag_sets).scalars())
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc
    names: set[str] = set()
    for text in tag_texts:
        try:
            tags = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(tags, dict):
            names.update(str(name) for name in tags)
    return FilterValues(model_names, sorted(names))


def pick_bucket_seconds(span: timedelta, *, at_most: int = 180) -> int:
    """The smallest usual bucket width that cuts ``span`` into at most ``at_most`` buckets."""
    for width in (60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400):
        if span.total_seconds() / width <= at_most:
            return width
    return 30 * 86400
