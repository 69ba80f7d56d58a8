"""The rollups' tables: hourly and daily sums of the recorded requests (migrations 0016, 0018).

``rollup_hours`` holds one row per UTC hour and group of (team, key, user, model, deployment,
provider, endpoint, outcome, status class, tag set); ``rollup_days`` one per local day in the
configured time zone and group of the same without user and deployment, a grain coarse enough for
a year of finance reports to read a few hundred thousand rows. A group is named by ``grain``, from
its values (``store/rollup_statements.py``: an md5 on PostgreSQL, so the primary key stays short
whatever a tag set or user id holds), and NULLs compare equal. The sums are those the reports read:
requests, tokens by kind, cost and what the response cache saved (exact ``Money``), cache hits,
latency and time-to-first-token sums; the hour level adds a latency histogram over fixed
log-spaced buckets (``lat_00`` ..., ``store/latency_sketch.py``), which merges by addition and gives
percentiles within a bucket's width. ``rollup_traffic`` sums the hour level over every dimension but
the outcome: the same sums, one row per hour and outcome, for the dashboard's overview.

``rollup_coverage`` says from when each level holds every request: ``hour`` from ``covered_from``
(the migration's next hour on an install that had records, or a rebuild's start), ``day`` from
``covered_from`` for ``time_zone`` only (``llmgate serve`` moves it when the configured zone
changes). Before that, and for anything off the grid, the reports read raw rows.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from llmgate.store.columns import Money, UTCDateTime, col, metadata

#: bounds of the latency histogram's buckets, in ms: 1 ms to 131 s in steps of sqrt(2); bucket k
#: holds [bound k-1, bound k), the last (one more than there are bounds) everything slower
LATENCY_BOUNDS_MS: tuple[float, ...] = tuple(2 ** (k / 2) for k in range(35))
LATENCY_BUCKETS: tuple[str, ...] = tuple(f"lat_{i:02d}" for i in range(len(LATENCY_BOUNDS_MS) + 1))

#: the dimensions of each level, in grain order (``rollup_days`` has no user or deployment)
HOUR_DIMENSIONS = (
    "team_id",
    "key_id",
    "user",
    "model",
    "deployment",
    "provider",
    "endpoint",
    "outcome",
    "status_class",
    "tags_json",
)
DAY_DIMENSIONS = tuple(d for d in HOUR_DIMENSIONS if d not in ("user", "deployment"))

#: the sums of both levels; the hour level adds the latency histogram (``HOUR_SUMS``)
SUMS: tuple[str, ...] = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_usd",
    "saved_usd",
    "cache_hits",
    "latency_ms_sum",
    "ttft_ms_sum",
    "ttft_count",
)
HOUR_SUMS: tuple[str, ...] = (*SUMS, *LATENCY_BUCKETS)
MONEY_SUMS = frozenset({"cost_usd", "saved_usd"})
FLOAT_SUMS = frozenset({"latency_ms_sum", "ttft_ms_sum"})


def _dimension_columns(names: tuple[str, ...]) -> list[sa.Column[Any]]:
    kinds: dict[str, Any] = {
        "outcome": sa.SmallInteger,
        "status_class": sa.SmallInteger,
        "tags_json": sa.Text,
    }
    return [
        col(name, kinds.get(name, sa.String), null=name not in ("outcome", "status_class")) for name in names
    ]


def _sum_columns(names: tuple[str, ...]) -> list[sa.Column[Any]]:
    def kind(name: str) -> Any:
        if name in MONEY_SUMS:
            return Money
        if name in FLOAT_SUMS:
            return sa.Float
        return sa.BigInteger

    return [col(name, kind(name)) for name in names]


ROLLUP_HOURS = sa.Table(
    "rollup_hours",
    metadata,
    col("hour", UTCDateTime, primary_key=True),  # the UTC hour's start
    col("grain", sa.String(32), primary_key=True),
    *_dimension_columns(HOUR_DIMENSIONS),
    *_sum_columns(HOUR_SUMS),
)

ROLLUP_DAYS = sa.Table(
    "rollup_days",
    metadata,
    col("time_zone", sa.String, primary_key=True),
    col("day", sa.Date, primary_key=True),  # the local date in time_zone
    col("grain", sa.String(32), primary_key=True),
    *_dimension_columns(DAY_DIMENSIONS),
    *_sum_columns(SUMS),
)

#: per UTC hour and outcome, every request (migration 0018): the dashboard overview's series reads
#: about 26,000 rows for a year here, where ``rollup_hours`` holds one row per handful of requests
TRAFFIC_DIMENSIONS = ("outcome",)
ROLLUP_TRAFFIC = sa.Table(
    "rollup_traffic",
    metadata,
    col("hour", UTCDateTime, primary_key=True),
    col("outcome", sa.SmallInteger, primary_key=True),
    *_sum_columns(HOUR_SUMS),
)

ROLLUP_COVERAGE = sa.Table(
    "rollup_coverage",
    metadata,
    col("level", sa.String(8), primary_key=True),  # hour | day
    col("time_zone", sa.String, null=True),  # day: the zone its days are in
    col("covered_from", UTCDateTime),
)
