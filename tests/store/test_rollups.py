"""The rollups on SQLite and PostgreSQL: kept by the writer in the rows' own transaction, read by
the spend reports and budgets wherever they fit, and equal to the raw rows' sums to the last
decimal place, across a daylight-saving change and in a zone whose midnight is not on the hour.

Expectations are the raw queries' answers (``store.spend.raw_spend_sums``, what every report read
before the rollups), which ``tests/store/test_spend_queries.py`` checks against Python.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store.records import insert_records
from llmgate.store.rollup_reads import period_spend, plan_reads, spend_sums
from llmgate.store.rollup_sql import REBUILD_WINDOW, _sql
from llmgate.store.rollup_tables import HOUR_SUMS, LATENCY_BUCKETS, ROLLUP_DAYS, ROLLUP_HOURS, ROLLUP_TRAFFIC
from llmgate.store.rollups import read_coverage, rebuild_rollups, use_day_zone
from llmgate.store.spend import SpendSums, raw_period_spend, raw_spend_sums
from support.rollups import rollup_snapshot

#: New York leaves standard time on 2026-03-08 (07:00 UTC); the rows span it
START = datetime(2026, 3, 5, 3, 17, tzinfo=UTC)
SPAN = timedelta(days=6)
GROUPINGS = [
    [],
    ["team", "model", "date"],
    ["key", "date"],
    ["user"],
    ["provider", "endpoint", "tag:env"],
    ["date", "team"],
]


def generated(
    count: int, seed: int = 7, start: datetime = START, span: timedelta = SPAN
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        outcome = rng.random()
        provider = rng.choice(["openai", "anthropic", None])
        status, code = ("success", 200) if outcome < 0.8 else rng.choice([("error", 429), ("error", 500)])
        if status == "error" and code == 429 and rng.random() < 0.5:
            provider = None  # refused by the gateway
        hit = rng.random() < 0.1
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "created_at": start + timedelta(seconds=rng.uniform(0, span.total_seconds())),
                "endpoint": rng.choice(["chat/completions", "embeddings"]),
                "model": rng.choice(["gpt-4o-mini", "claude-haiku", "text-embedding-3-small"]),
                "deployment": rng.choice(["d1", "d2", None]),
                "provider": provider,
                "user": rng.choice(["alice", "bob", None]),
                "key_id": rng.choice(["key_a", "key_b", "key_c", None]),
                "team_id": rng.choice(["search", "support", None]),
                "status": status,
                "status_code": code,
                "prompt_tokens": rng.choice([None, rng.randint(1, 4000)]),
                "completion_tokens": rng.randint(0, 900),
                "cost_usd": None if rng.random() < 0.05 else Decimal(rng.randint(0, 10**8)).scaleb(-10),
                "saved_usd": Decimal(rng.randint(1, 10**6)).scaleb(-10) if hit else None,
                "cache_hit": hit,
                "latency_ms": rng.uniform(0.2, 90_000),
                "ttft_ms": rng.choice([None, rng.uniform(1, 500)]),
                "tags_json": rng.choice([None, orjson.dumps({"env": rng.choice(["prod", "dev"])}).decode()]),
            }
        )
    return rows


def store(engine: Engine, rows: list[dict[str, Any]], batch: int = 500) -> None:
    for index in range(0, len(rows), batch):
        insert_records(engine, rows[index : index + batch])


def ordered(sums: list[SpendSums]) -> list[SpendSums]:
    return sorted(sums, key=lambda s: tuple((v is None, str(v)) for v in s.groups))


def rollup_totals(engine: Engine, table: sa.Table) -> tuple[int, Decimal]:
    with engine.connect() as conn:
        requests, cost = conn.execute(
            sa.select(sa.func.sum(table.c.requests), sa.func.sum(table.c.cost_usd))
        ).one()
    return int(requests or 0), cost or Decimal(0)


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata"])
def test_reports_through_rollups_equal_the_raw_rows(engine: Engine, tz: str) -> None:
    use_day_zone(engine, tz)
    rows = generated(2_500)
    store(engine, rows)
    ranges = [
        (START - timedelta(days=1), None),
        (START + timedelta(hours=20, minutes=13, seconds=7), START + timedelta(days=4, hours=9, minutes=41)),
        (datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 8, 5, 30, tzinfo=UTC)),  # inside one hour
    ]
    for since, until in ranges:
        for dimensions in GROUPINGS:
            through_rollups = spend_sums(engine, dimensions, since, until, tz)
            assert ordered(through_rollups) == ordered(
                raw_spend_sums(engine, dimensions, since, until, tz)
            ), (
                dimensions,
                since,
                until,
            )
    # the first range was answered by both levels, not by raw rows alone
    with engine.connect() as conn:
        plan = plan_reads(read_coverage(conn), ranges[1][0], ranges[1][1], tz, days_fit=True)
    assert plan.days is not None and plan.hours and plan.raw
    total = sum(s.requests for s in spend_sums(engine, [], START - timedelta(days=1), None, tz))
    assert total == len(rows)


def test_reports_read_the_rollups_not_the_rows(engine: Engine) -> None:
    """Raw rows gone from inside whole days and hours (as pruning leaves them) still count."""
    use_day_zone(engine, "UTC")
    rows = generated(600)
    store(engine, rows)
    cut_from, cut_to = datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 8, 10, tzinfo=UTC)
    with engine.begin() as conn:
        requests = sa.table("requests", sa.column("created_at"))
        conn.execute(
            sa.delete(requests).where(requests.c.created_at >= cut_from, requests.c.created_at < cut_to)
        )
    since = START - timedelta(days=1)
    assert sum(s.requests for s in spend_sums(engine, ["date"], since, None, "UTC")) == len(rows)
    assert sum(s.requests for s in raw_spend_sums(engine, ["date"], since, None, "UTC")) < len(rows)


def test_budget_windows_through_rollups_equal_the_raw_rows(engine: Engine) -> None:
    store(engine, generated(1_200, seed=3))
    for scope in ("key", "team", "user"):
        for since, until in [
            (START + timedelta(minutes=50), None),
            (START + timedelta(days=2, minutes=5), START + timedelta(days=3, hours=4, minutes=1)),
        ]:
            assert period_spend(engine, scope, since, until) == raw_period_spend(engine, scope, since, until)


def test_a_replayed_batch_is_counted_once(engine: Engine) -> None:
    use_day_zone(engine, "UTC")
    first, second = generated(300, seed=1), generated(200, seed=2)
    assert insert_records(engine, first) == 300
    assert insert_records(engine, first) == 0  # the whole batch again (a spill replayed)
    assert insert_records(engine, first[100:200] + second + second[:10]) == 200  # some stored, some twice
    expected_cost = sum((r["cost_usd"] or Decimal(0) for r in first + second), Decimal(0))
    assert rollup_totals(engine, ROLLUP_HOURS) == (500, expected_cost)
    assert rollup_totals(engine, ROLLUP_DAYS) == (500, expected_cost)


def test_the_latency_histogram_holds_every_request(engine: Engine) -> None:
    rows = generated(400, seed=5)
    store(engine, rows)
    with engine.connect() as conn:
        buckets = conn.execute(
            sa.select(*(sa.func.sum(ROLLUP_HOURS.c[name]) for name in LATENCY_BUCKETS))
        ).one()
        slow = conn.execute(sa.select(sa.func.sum(ROLLUP_HOURS.c[LATENCY_BUCKETS[-1]]))).scalar()
    assert sum(buckets) == len(rows)
    assert slow == sum(1 for r in rows if r["latency_ms"] > 2**17)  # the last bucket: over 131 s


def test_rebuild_sums_the_rows_again_and_covers_from_there(engine: Engine) -> None:
    use_day_zone(engine, "America/New_York")
    rows = generated(1_000, seed=11)
    store(engine, rows)
    later = datetime(2026, 3, 9, 4, tzinfo=UTC)  # midnight in New York
    with engine.begin() as conn:  # as an install upgraded then would stand: no rollups before
        conn.execute(sa.delete(ROLLUP_HOURS).where(ROLLUP_HOURS.c.hour < later))
        conn.execute(sa.delete(ROLLUP_DAYS).where(ROLLUP_DAYS.c.day < later.date()))
        conn.execute(
            sa.text("UPDATE rollup_coverage SET covered_from = :at"), {"at": later.replace(tzinfo=None)}
        )
    since = START - timedelta(days=1)
    for dimensions in GROUPINGS:  # before the coverage: raw rows answer
        expected = ordered(raw_spend_sums(engine, dimensions, since, None, "America/New_York"))
        assert ordered(spend_sums(engine, dimensions, since, None, "America/New_York")) == expected
    result = rebuild_rollups(engine, datetime(2026, 3, 4, 22, 30, tzinfo=UTC))
    assert result.rows == len(rows) and result.since == datetime(2026, 3, 4, 22, tzinfo=UTC)
    with engine.connect() as conn:
        coverage = read_coverage(conn)
    assert coverage.hours_from == datetime(2026, 3, 4, 22, tzinfo=UTC)
    assert coverage.day_level is not None
    assert coverage.day_level.covered_from == datetime(2026, 3, 5, 5, tzinfo=UTC)  # New York's midnight
    expected_cost = sum((r["cost_usd"] or Decimal(0) for r in rows), Decimal(0))
    assert rollup_totals(engine, ROLLUP_HOURS) == (len(rows), expected_cost)
    for dimensions in GROUPINGS:
        expected = ordered(raw_spend_sums(engine, dimensions, since, None, "America/New_York"))
        assert ordered(spend_sums(engine, dimensions, since, None, "America/New_York")) == expected


def test_a_new_zone_starts_at_its_next_midnight_an_hour_away(engine: Engine) -> None:
    use_day_zone(engine, "UTC")
    store(engine, generated(300, seed=4))
    now = datetime(2026, 3, 11, 14, 30, tzinfo=UTC)  # 23:30 in Tokyo: its next midnight is 30 min away
    level = use_day_zone(engine, "Asia/Tokyo", now=now)
    assert level.covered_from == datetime(2026, 3, 12, 15, tzinfo=UTC)  # the one after, in Tokyo
    assert rollup_totals(engine, ROLLUP_DAYS) == (0, Decimal(0))  # the UTC days are gone
    since = START - timedelta(days=1)
    for dimensions in GROUPINGS:
        assert ordered(spend_sums(engine, dimensions, since, None, "UTC")) == ordered(
            raw_spend_sums(engine, dimensions, since, None, "UTC")
        )
    assert use_day_zone(engine, "Asia/Tokyo", now=now + timedelta(days=3)) == level  # unchanged


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_200k_requests_over_a_year_equal_the_raw_rows(engine: Engine) -> None:
    tz = "Europe/Berlin"
    use_day_zone(engine, tz)
    rows = generated(200_000, seed=21, start=datetime(2025, 12, 1, tzinfo=UTC), span=timedelta(days=365))
    store(engine, rows, batch=5_000)
    since, until = datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    for dimensions in (["team", "model", "date"], ["key", "date"], ["user", "provider"], []):
        assert ordered(spend_sums(engine, dimensions, since, until, tz)) == ordered(
            raw_spend_sums(engine, dimensions, since, until, tz)
        )


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata"])
def test_months_are_the_raw_days_summed_by_month(engine: Engine, tz: str) -> None:
    use_day_zone(engine, tz)
    store(engine, generated(1_500, seed=9, span=timedelta(days=40)))  # March into April
    since, until = START + timedelta(hours=5, minutes=3), START + timedelta(days=38, minutes=17)
    expected: dict[tuple[Any, ...], list[Any]] = {}
    for line in raw_spend_sums(engine, ["team", "date"], since, until, tz):
        team, day = line.groups
        assert isinstance(day, date)
        sums = expected.setdefault((team, day.replace(day=1)), [0, Decimal(0), 0])
        sums[0] += line.requests
        sums[1] += line.cost_usd
        sums[2] += line.failed
    got = {
        line.groups: [line.requests, line.cost_usd, line.failed]
        for line in spend_sums(engine, ["team", "month"], since, until, tz)
    }
    assert got == expected
    assert {month for _, month in got} == {date(2026, 3, 1), date(2026, 4, 1)}


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata"])
def test_a_rebuild_over_many_windows_sums_what_the_writer_did(engine: Engine, tz: str) -> None:
    """A rebuild sums a week of rows per statement: windows cut local days and DST weeks apart,
    and the rollups come out as the writer had kept them, group for group."""
    use_day_zone(engine, tz)
    store(engine, generated(2_000, seed=13, span=timedelta(days=40)))  # March into April

    kept = rollup_snapshot(engine)
    result = rebuild_rollups(engine, START)
    assert result.rows == 2_000 and (START + timedelta(days=40) - result.since) > 5 * REBUILD_WINDOW
    assert rollup_snapshot(engine) == kept


def traffic_from_hours(engine: Engine) -> list[Any]:
    """``rollup_hours`` summed per hour and outcome, as ``rollup_traffic`` should hold it."""
    sums = [sa.func.sum(ROLLUP_HOURS.c[name]) for name in HOUR_SUMS]
    query = (
        sa.select(ROLLUP_HOURS.c.hour, ROLLUP_HOURS.c.outcome, *sums)
        .group_by(ROLLUP_HOURS.c.hour, ROLLUP_HOURS.c.outcome)
        .order_by(ROLLUP_HOURS.c.hour, ROLLUP_HOURS.c.outcome)
    )
    with engine.connect() as conn:
        return [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in conn.execute(query)]


def traffic_rows(engine: Engine) -> list[Any]:
    query = sa.select(ROLLUP_TRAFFIC).order_by(ROLLUP_TRAFFIC.c.hour, ROLLUP_TRAFFIC.c.outcome)
    with engine.connect() as conn:
        return [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in conn.execute(query)]


def test_the_traffic_level_is_the_hour_level_by_outcome(engine: Engine) -> None:
    """``rollup_traffic`` (the overview's) is kept beside the hour level: the same sums, by outcome."""
    rows = generated(1_500, seed=17)
    store(engine, rows)
    store(engine, rows[:300])  # the same requests again: a replay adds nothing
    expected = traffic_from_hours(engine)
    assert expected and traffic_rows(engine) == expected
    assert sum(r[2] for r in expected) == 1_500


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_sqlite_rows_not_in_one_rowid_range_are_summed_by_their_ids(engine: Engine) -> None:
    """SQLite sums a batch by its range of rowids when the batch took the last ones; once the
    largest rowid is taken it picks them at random, and the batch is found by its ids instead."""
    rows = generated(600, seed=23)
    store(engine, rows[:1])
    with engine.begin() as conn:  # the largest rowid taken: new rows get random ones from here on
        conn.exec_driver_sql("UPDATE requests SET rowid = 9223372036854775807")
    store(engine, rows[1:], batch=300)
    with engine.connect() as conn:
        rowids = sorted(conn.exec_driver_sql("SELECT rowid FROM requests").scalars())
    assert rowids[-1] - rowids[0] > 10 * len(rows)  # not one range
    expected_cost = sum((r["cost_usd"] or Decimal(0) for r in rows), Decimal(0))
    assert rollup_totals(engine, ROLLUP_HOURS) == (600, expected_cost)
    assert traffic_rows(engine) == traffic_from_hours(engine)
    since = START - timedelta(days=1)
    assert ordered(spend_sums(engine, ["key", "date"], since, None, "UTC")) == ordered(
        raw_spend_sums(engine, ["key", "date"], since, None, "UTC")
    )


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_batches_between_two_offset_changes_share_one_day_statement(engine: Engine) -> None:
    """SQLite's day statement holds the zone's offsets over a batch's span: batches whose spans
    see the same offsets run the statement compiled for the first (each batch's own first moment
    once made every batch compile it again), and their days stay right across the change."""
    use_day_zone(engine, "America/New_York")
    after_change = START + timedelta(days=4)  # 2026-03-09, daylight time from here on
    store(engine, generated(50, seed=31, start=after_change, span=timedelta(hours=1)))
    compiled = _sql.cache_info().misses
    for hour in range(1, 6):  # five more batches, each a different span of the same offset
        store(
            engine,
            generated(
                50, seed=31 + hour, start=after_change + timedelta(hours=hour), span=timedelta(hours=1)
            ),
        )
    assert _sql.cache_info().misses == compiled
    store(engine, generated(200, seed=41))  # a batch across the change: new offsets, new statement
    assert _sql.cache_info().misses > compiled
    since = START - timedelta(days=1)
    assert ordered(spend_sums(engine, ["key", "date"], since, None, "America/New_York")) == ordered(
        raw_spend_sums(engine, ["key", "date"], since, None, "America/New_York")
    )
