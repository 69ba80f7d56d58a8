"""The dashboard's series through the hour rollups (``store/traffic_rollups.py``) on SQLite and
PostgreSQL: counts, tokens and cost equal the raw rows' answer exactly; latency percentiles from the
histogram are within one of its buckets of the exact ones; a series off the hour grid is read from
the raw rows as before.

Expectations are ``store.traffic.raw_traffic_series`` (what ``traffic_series`` answered before the
rollups, which ``tests/store/test_traffic.py`` checks against Python) and, for percentiles, Python.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store.latency_sketch import histogram_percentile, latency_bucket
from llmgate.store.models import requests_table
from llmgate.store.rollup_tables import LATENCY_BOUNDS_MS, LATENCY_BUCKETS, ROLLUP_HOURS
from llmgate.store.traffic import Bucket, Series, raw_traffic_series, traffic_series
from llmgate.store.traffic_rollups import plan_series, raw_histograms
from store.test_rollups import START, generated, store

#: odd minute edges at both ends; New York leaves standard time inside (2026-03-08 07:00 UTC)
SINCE = START + timedelta(hours=20, minutes=13, seconds=7)
UNTIL = START + timedelta(days=4, hours=9, minutes=41, seconds=30)
WIDTHS = [3600, 6 * 3600, 86400]
ZONES = ["UTC", "America/New_York"]


def sums(bucket: Bucket) -> tuple[Any, ...]:
    """A bucket's figures but its latency percentiles."""
    return (
        bucket.start,
        bucket.requests,
        bucket.errors,
        bucket.input_tokens,
        bucket.output_tokens,
        bucket.cost_usd,
    )


def all_sums(series: Series) -> list[tuple[Any, ...]]:
    return [sums(b) for b in series.buckets] + [sums(series.totals)]


def nearest_rank(values: list[float], p: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[-(-len(ordered) * p // 100) - 1]


def offset_at(tz: str, moment: datetime) -> int:
    delta = moment.astimezone(ZoneInfo(tz)).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def within_a_bucket(got: float | None, exact: float | None) -> bool:
    if got is None or exact is None:
        return got is exact
    return exact / math.sqrt(2) <= got <= exact * math.sqrt(2)


def cover_hours_from(engine: Engine, moment: datetime) -> None:
    """Make the hour level cover from ``moment`` only, as on an install upgraded then."""
    with engine.begin() as conn:
        conn.execute(sa.delete(ROLLUP_HOURS).where(ROLLUP_HOURS.c.hour < moment))
        conn.execute(
            sa.text("UPDATE rollup_coverage SET covered_from = :at WHERE level = 'hour'"),
            {"at": moment.replace(tzinfo=None)},
        )


def delete_rows(engine: Engine, start: datetime, end: datetime) -> None:
    """Delete the raw rows in ``[start, end)``, as pruning would (the rollups keep them)."""
    requests = requests_table()
    with engine.begin() as conn:
        conn.execute(sa.delete(requests).where(requests.c.created_at >= start, requests.c.created_at < end))


@pytest.mark.parametrize("covered_from", [None, datetime(2026, 3, 7, 10, tzinfo=UTC)])
def test_sums_through_rollups_equal_the_raw_rows(engine: Engine, covered_from: datetime | None) -> None:
    rows = generated(2_500)
    store(engine, rows)
    if covered_from is not None:  # raw rows before it: a 6-hour or daily bucket holds both
        cover_hours_from(engine, covered_from)
    inside = [r for r in rows if SINCE <= r["created_at"] < UNTIL]
    first_hour = SINCE.replace(minute=0, second=0) + timedelta(hours=1)
    for tz in ZONES:
        offset = offset_at(tz, SINCE)
        for width in WIDTHS:
            with engine.connect() as conn:
                plan = plan_series(conn, tz, SINCE, UNTIL, width, offset)
            assert plan.hours == (
                max(first_hour, covered_from or first_hour),
                UNTIL.replace(minute=0, second=0),
            )
            through_rollups = traffic_series(engine, SINCE, UNTIL, width, tz)
            raw = raw_traffic_series(engine, SINCE, UNTIL, width, tz)
            assert all_sums(through_rollups) == all_sums(raw), (tz, width)
            assert through_rollups.totals.requests == len(inside)
            assert through_rollups.totals.errors == sum(r["status"] == "error" for r in inside)


@pytest.mark.parametrize("covered_from", [None, datetime(2026, 3, 7, 10, tzinfo=UTC)])
def test_percentiles_from_the_histogram_are_within_a_bucket(
    engine: Engine, covered_from: datetime | None
) -> None:
    rng = random.Random(3)
    rows = generated(2_500, seed=9)
    for r in rows:  # spread over many of the histogram's buckets
        r["latency_ms"] = rng.lognormvariate(6, 1.5)
    store(engine, rows)
    if covered_from is not None:
        cover_hours_from(engine, covered_from)
    for tz in ZONES:
        for width in WIDTHS:
            series = traffic_series(engine, SINCE, UNTIL, width, tz)
            exact = raw_traffic_series(engine, SINCE, UNTIL, width, tz)
            for got, want in [
                *zip(series.buckets, exact.buckets, strict=True),
                (series.totals, exact.totals),
            ]:
                end = got.start + timedelta(seconds=width) if got is not series.totals else UNTIL
                ok = [
                    r["latency_ms"]
                    for r in rows
                    if r["status"] == "success" and max(SINCE, got.start) <= r["created_at"] < min(UNTIL, end)
                ]
                assert want.p50_ms == nearest_rank(ok, 50) and want.p95_ms == nearest_rank(ok, 95)
                assert within_a_bucket(got.p50_ms, want.p50_ms), (tz, width, got.start)
                assert within_a_bucket(got.p95_ms, want.p95_ms), (tz, width, got.start)
            if width == 3600:  # the partial hours at either end are raw rows alone: exact
                for index in (0, -1):
                    assert (series.buckets[index].p50_ms, series.buckets[index].p95_ms) == (
                        exact.buckets[index].p50_ms,
                        exact.buckets[index].p95_ms,
                    )


@pytest.mark.parametrize(("width", "tz"), [(900, "UTC"), (900, "America/New_York"), (3600, "Asia/Kolkata")])
def test_off_the_hour_grid_the_raw_rows_answer_as_before(engine: Engine, width: int, tz: str) -> None:
    """A width that is not whole hours, or a zone whose offset is not: the raw rows alone (the
    rows deleted from inside whole hours are missing, as they were before the rollups)."""
    rows = generated(1_500, seed=5)
    store(engine, rows)
    delete_rows(engine, datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 7, 6, tzinfo=UTC))
    with engine.connect() as conn:
        plan = plan_series(conn, tz, SINCE, UNTIL, width, offset_at(tz, SINCE))
    assert plan.hours is None and plan.raw == plan.exact == [(SINCE, UNTIL)]
    series = traffic_series(engine, SINCE, UNTIL, width, tz)
    assert series == raw_traffic_series(engine, SINCE, UNTIL, width, tz)
    assert series.totals.requests < sum(SINCE <= r["created_at"] < UNTIL for r in rows)


def test_whole_hours_are_read_from_the_rollups(engine: Engine) -> None:
    """Raw rows gone from inside whole hours (as pruning leaves them) still count."""
    rows = generated(1_500, seed=6)
    store(engine, rows)
    delete_rows(engine, datetime(2026, 3, 6, 2, tzinfo=UTC), datetime(2026, 3, 8, 10, tzinfo=UTC))
    inside = [r for r in rows if SINCE <= r["created_at"] < UNTIL]
    for tz in ZONES:
        for width in WIDTHS:
            series = traffic_series(engine, SINCE, UNTIL, width, tz)
            assert series.totals.requests == sum(b.requests for b in series.buckets) == len(inside)
            assert series.totals.p50_ms is not None
            assert raw_traffic_series(engine, SINCE, UNTIL, width, tz).totals.requests < len(inside)


def test_the_raw_rows_histogram_buckets_as_latency_bucket_does(engine: Engine) -> None:
    """The raw rows' latencies are counted in SQL into the buckets ``latency_bucket`` picks, at
    the bounds and either side of them too."""
    latencies = [0.0, 0.5, 200_000.0]
    for bound in LATENCY_BOUNDS_MS:
        latencies += [bound, math.nextafter(bound, 0), math.nextafter(bound, math.inf)]
    rows = generated(len(latencies), seed=8)
    for r, latency in zip(rows, latencies, strict=True):
        r["latency_ms"] = latency
    store(engine, rows)
    table = requests_table()
    with engine.connect() as conn:
        got = raw_histograms(conn, table.c.latency_ms, sa.true(), sa.literal_column("0"))
    want = [0] * len(LATENCY_BUCKETS)
    for latency in latencies:
        want[latency_bucket(latency)] += 1
    assert got == {0: want}


def test_histogram_percentile() -> None:
    empty = [0] * len(LATENCY_BUCKETS)
    assert histogram_percentile(empty, 0.5) is None
    assert histogram_percentile([], 0.95) is None
    one = list(empty)
    one[latency_bucket(300.0)] = 1  # [256, 362) ms
    assert histogram_percentile(one, 0.5) == histogram_percentile(one, 0.95) == math.sqrt(256 * 2**8.5)
    first = list(empty)
    first[0] = 3  # under 1 ms: its upper bound
    assert histogram_percentile(first, 0.5) == 1.0
    slow = list(empty)
    slow[-1] = 2  # 131 s or more: its lower bound
    assert histogram_percentile(slow, 0.95) == 131072.0
    ranks = list(empty)
    ranks[2], ranks[4] = 19, 1  # 20 values: p95 is the 19th, p50 the 10th
    assert histogram_percentile(ranks, 0.95) == math.sqrt(LATENCY_BOUNDS_MS[1] * LATENCY_BOUNDS_MS[2])
    assert histogram_percentile(ranks, 1.0) == math.sqrt(LATENCY_BOUNDS_MS[3] * LATENCY_BOUNDS_MS[4])
    assert histogram_percentile(ranks, 0.5) == histogram_percentile(ranks, 0.95)
    ranks[4] = 2  # 21 values: p95 is the 20th
    assert histogram_percentile(ranks, 0.95) == math.sqrt(LATENCY_BOUNDS_MS[3] * LATENCY_BOUNDS_MS[4])
    ranks = list(empty)
    ranks[2], ranks[4] = 7, 93  # p as written: rank ceil(0.07 * 100) is 7 (0.07 * 100 is 7.000000000000001)
    assert histogram_percentile(ranks, 0.07) == math.sqrt(LATENCY_BOUNDS_MS[1] * LATENCY_BOUNDS_MS[2])
