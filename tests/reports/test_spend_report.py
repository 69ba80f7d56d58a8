"""Spend and budget reports against an independent sum over the raw records, on SQLite and PostgreSQL.

The generated requests cluster around the awkward instants: local midnight at month ends, the end of
daylight saving in New York (2026-11-01, a 25-hour day), Monday boundaries, and the edges of the
report's range, in a zone behind UTC with DST (America/New_York) and one ahead of it at +5:30
(Asia/Kolkata). Expected sums are computed here in Python, from the rows as generated, with
``zoneinfo``: no SQL involved.
"""

from __future__ import annotations

import csv
import io
import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.config.time_range import local_midnight
from llmgate.errors import InvalidRequest
from llmgate.reports import budgets as budget_reports
from llmgate.reports.spend import (
    TOTAL_LABEL,
    parse_group_by,
    spend_report,
    to_csv,
    to_json,
)
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.models import table
from llmgate.store.records import insert_records
from support.migrated import copy_migrated
from support.postgres import postgres_schema

ZONES = ["America/New_York", "Asia/Kolkata"]
KEYS = {"key_aaaa00000001": "search-prod", "key_aaaa00000002": "billing-batch", "key_aaaa00000003": "ops"}
SINGLE = ["team", "key", "user", "model", "provider", "day", "week", "month", "tag:feature", "tag:env"]
COMBINED = [
    ["team", "model", "month"],
    ["key", "day"],
    ["tag:feature", "week", "provider"],
    ["month", "week", "day"],
    ["user", "tag:env"],
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        copy_migrated(url)  # a copy of a store migrated once per session; upgrade: a no-op at head
        engine = create_engine_for(url)
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        copy_migrated(url)
        engine = create_engine_for(url)
        upgrade(engine)
        yield engine
        engine.dispose()


def make_row(created_at: datetime, rng: random.Random) -> dict[str, Any]:
    key = rng.choice([None, *KEYS])
    tags: dict[str, str] = {}
    if rng.random() < 0.7:
        tags["feature"] = rng.choice(["search", "chat", "summaries"])
    if rng.random() < 0.5:
        tags["env"] = rng.choice(["prod", "staging"])
    error = rng.random() < 0.15
    unknown = not error and rng.random() < 0.1
    cost = None if unknown or (error and rng.random() < 0.5) else Decimal(rng.randint(0, 10**9)).scaleb(-10)
    provider = rng.choice(["openai", "anthropic", None])
    # answered by the response cache: free, and saved what it would have cost (unknown: nothing)
    cache = None if error or provider is None else rng.choice([None, "miss", "hit", "semantic-hit", "bypass"])
    hit = cache in ("hit", "semantic-hit")
    saved = cost if hit else None
    if hit:
        cost = Decimal(0) if cost is not None else None if rng.random() < 0.5 else Decimal(0)
    return {
        "id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "created_at": created_at,
        "endpoint": "chat/completions",
        "model": rng.choice(["gpt-4o-mini", "gpt-4o", "claude-sonnet"]),
        "deployment": None if provider is None else f"{provider}-1",
        "provider": provider,
        "user": rng.choice([None, "alice", "bob", "carol"]),
        "status": "error" if error else "success",
        "status_code": 502 if error else 200,
        "prompt_tokens": None if rng.random() < 0.05 else rng.randint(0, 5000),
        "completion_tokens": None if error or rng.random() < 0.05 else rng.randint(0, 2000),
        "cost_usd": cost,
        "cost_unknown": unknown,
        "latency_ms": 12.5,
        "tags_json": orjson.dumps(tags).decode() if tags or rng.random() < 0.5 else None,
        "key_id": key,
        "team_id": rng.choice([None, "search", "billing"])
        if key is None
        else ("ops" if "3" in key else "search"),
        "cache_hit": hit,
        "cache": cache,
        "cache_key": uuid.UUID(int=rng.getrandbits(128)).hex if cache else None,
        "cache_similarity": round(rng.uniform(0.9, 1.0), 4) if cache == "semantic-hit" else None,
        "saved_usd": saved,
    }


def awkward_instants(tz: str) -> list[datetime]:
    """Instants next to local midnights of month ends, the DST change and Mondays, plus the range ends."""
    zone = ZoneInfo(tz)
    days = [date(2026, 9, 30), date(2026, 10, 1), date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)]
    days += [date(2026, 11, 30), date(2026, 12, 1), date(2026, 10, 26), date(2026, 11, 9)]
    out = []
    for day in days:
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        for delta in (
            -timedelta(minutes=30),
            -timedelta(microseconds=1),
            timedelta(0),
            timedelta(minutes=45),
        ):
            out.append(midnight + delta)
    # the repeated hour when New York leaves daylight saving (05:00-07:00 UTC on 2026-11-01)
    out += [datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC)]
    return out


def generate(tz: str, n: int = 900, seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2026, 9, 28, tzinfo=UTC)
    span = (datetime(2026, 12, 3, tzinfo=UTC) - start).total_seconds()
    moments = [start + timedelta(seconds=rng.random() * span) for _ in range(n)]
    moments += [m for m in awkward_instants(tz) for _ in range(3)]
    return [make_row(moment, rng) for moment in moments]


def label(row: dict[str, Any], name: str, tz: str) -> str | None:
    """The group label of ``row`` for ``name``, computed without the store."""
    local = row["created_at"].astimezone(ZoneInfo(tz)).date()
    if name == "day":
        return local.isoformat()
    if name == "week":
        return (local - timedelta(days=local.weekday())).isoformat()
    if name == "month":
        return f"{local.year:04d}-{local.month:02d}"
    if name.startswith("tag:"):
        tags = orjson.loads(row["tags_json"]) if row["tags_json"] else {}
        value = tags.get(name[4:])
        return None if value is None else str(value)
    column = {"team": "team_id", "key": "key_id"}.get(name, name)
    value = row[column]
    return None if value is None else str(value)


def expected_sums(
    rows: list[dict[str, Any]], group_by: list[str], tz: str, since: datetime, until: datetime | None
) -> dict[tuple[str | None, ...], tuple[int, int, int, Decimal]]:
    return {group: sums[:4] for group, sums in expected_cache_sums(rows, group_by, tz, since, until).items()}


def expected_cache_sums(
    rows: list[dict[str, Any]], group_by: list[str], tz: str, since: datetime, until: datetime | None
) -> dict[tuple[str | None, ...], tuple[int, int, int, Decimal, Decimal, int]]:
    """Requests, input and output tokens, cost, saved and cache hits per group."""
    out: dict[tuple[str | None, ...], tuple[int, int, int, Decimal, Decimal, int]] = {}
    for row in rows:
        if row["created_at"] < since or (until is not None and row["created_at"] >= until):
            continue
        group = tuple(label(row, name, tz) for name in group_by)
        n, i, o, c, s, h = out.get(group, (0, 0, 0, Decimal(0), Decimal(0), 0))
        out[group] = (
            n + 1,
            i + (row["prompt_tokens"] or 0),
            o + (row["completion_tokens"] or 0),
            c + (row["cost_usd"] or Decimal(0)),
            s + (row.get("saved_usd") or Decimal(0)),
            h + bool(row.get("cache_hit")),
        )
    return out


def store(engine: Engine, rows: list[dict[str, Any]]) -> None:
    now = datetime(2026, 9, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(table("api_keys")),
            [
                {
                    "id": key_id,
                    "key_hash": uuid.uuid4().hex * 2,
                    "key_prefix": "sk-x",
                    "alias": alias,
                    "created_at": now,
                    "updated_at": now,
                }
                for key_id, alias in KEYS.items()
            ],
        )
    insert_records(engine, rows)


@pytest.fixture(params=ZONES)
def zone_data(request: pytest.FixtureRequest, engine: Engine) -> tuple[Engine, str, list[dict[str, Any]]]:
    tz = request.param
    rows = generate(tz)
    store(engine, rows)
    return engine, tz, rows


def check(engine: Engine, rows: list[dict[str, Any]], group_by: list[str], tz: str) -> None:
    since, until = local_midnight(date(2026, 10, 1), tz), local_midnight(date(2026, 12, 1), tz)
    report = spend_report(engine, since=since, until=until, group_by=group_by, tz=tz)
    expected = expected_sums(rows, group_by, tz, since, until)
    got = {
        line.group: (line.requests, line.input_tokens, line.output_tokens, line.cost_usd)
        for line in report.lines
    }
    assert got == (expected if group_by else {})
    totals = expected_sums(rows, [], tz, since, until)[()]
    total = report.total
    assert (total.requests, total.input_tokens, total.output_tokens, total.cost_usd) == totals
    # what the cache saved and how often it answered, per group and in total
    cached = expected_cache_sums(rows, group_by, tz, since, until)
    assert {line.group: (line.saved_usd, line.cache_hits) for line in report.lines} == (
        {group: sums[4:] for group, sums in cached.items()} if group_by else {}
    )
    saved, hits = expected_cache_sums(rows, [], tz, since, until)[()][4:]
    assert (total.saved_usd, total.cache_hits, total.hit_rate) == (saved, hits, hits / totals[0])
    assert saved > 0 and 0 < hits < totals[0]
    # JSON and CSV carry the same numbers, costs as exact decimal strings
    data = to_json(report)
    assert data["totals"]["cost_usd"] == f"{totals[3]:.10f}"
    assert data["totals"]["saved_usd"] == f"{saved:.10f}" and data["totals"]["hit_rate"] == hits / totals[0]
    parsed = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert len(parsed) == len(report.lines) + 1 == len(data["rows"]) + 1
    assert int(parsed[-1]["requests"]) == totals[0] and Decimal(parsed[-1]["cost_usd"]) == totals[3]
    assert Decimal(parsed[-1]["saved_usd"]) == saved and float(parsed[-1]["hit_rate"]) == hits / totals[0]
    if group_by:
        assert parsed[-1][group_by[0]] == TOTAL_LABEL
        assert sum(Decimal(r["cost_usd"]) for r in data["rows"]) == totals[3]
        assert sum(int(r["requests"]) for r in parsed[:-1]) == totals[0]
        assert sum(Decimal(r["cost_usd"]) for r in parsed[:-1]) == totals[3]
        assert sum(Decimal(r["saved_usd"]) for r in data["rows"]) == saved
        for row in data["rows"]:
            assert row["hit_rate"] == pytest.approx(
                cached[tuple(row[n] if n != "key" else row["key_id"] for n in group_by)][5] / row["requests"]
            )


@pytest.mark.parametrize("group_by", [[name] for name in SINGLE], ids=SINGLE)
def test_each_group_by_matches_an_independent_sum(
    zone_data: tuple[Engine, str, list[dict[str, Any]]], group_by: list[str]
) -> None:
    engine, tz, rows = zone_data
    check(engine, rows, group_by, tz)


@pytest.mark.parametrize("group_by", COMBINED, ids=[",".join(c) for c in COMBINED])
def test_combined_group_bys_match_an_independent_sum(
    zone_data: tuple[Engine, str, list[dict[str, Any]]], group_by: list[str]
) -> None:
    engine, tz, rows = zone_data
    check(engine, rows, group_by, tz)


def test_no_group_by_is_the_totals_only(zone_data: tuple[Engine, str, list[dict[str, Any]]]) -> None:
    engine, tz, rows = zone_data
    check(engine, rows, [], tz)


def test_open_ended_range_and_the_dst_day(engine: Engine) -> None:
    """No ``until``: every request from ``since`` on; 2026-11-01 in New York lasts 25 hours."""
    tz = "America/New_York"
    rows = generate(tz, n=300, seed=11)
    store(engine, rows)
    since = local_midnight(date(2026, 10, 31), tz)
    report = spend_report(engine, since=since, group_by=["day"], tz=tz)
    assert {line.group: line.requests for line in report.lines} == {
        k: v[0] for k, v in expected_sums(rows, ["day"], tz, since, None).items()
    }
    day = [r for r in rows if r["created_at"].astimezone(ZoneInfo(tz)).date() == date(2026, 11, 1)]
    assert {line.group[0]: line.requests for line in report.lines}["2026-11-01"] == len(day)
    assert min(r["created_at"] for r in day) >= datetime(2026, 11, 1, 4, tzinfo=UTC)
    assert max(r["created_at"] for r in day) < datetime(2026, 11, 2, 5, tzinfo=UTC)


def test_key_groups_show_the_alias(engine: Engine) -> None:
    rows = generate("UTC", n=200)
    store(engine, rows)
    report = spend_report(engine, since=datetime(2026, 1, 1, tzinfo=UTC), group_by=["key"])
    data = to_json(report)
    by_id = {r["key_id"]: r["key"] for r in data["rows"]}
    assert by_id == {**KEYS, None: None}


def test_empty_store_reports_zeros(engine: Engine) -> None:
    report = spend_report(engine, since=datetime(2026, 1, 1, tzinfo=UTC), group_by=["team", "month"])
    assert report.lines == []
    assert to_json(report)["totals"] == {
        "requests": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": "0.0000000000",
        "succeeded": 0,
        "failed": 0,
        "rejected": 0,
        "saved_usd": "0.0000000000",
        "hit_rate": 0.0,
    }
    assert to_csv(report).splitlines() == [
        "team,month,requests,input_tokens,output_tokens,cost_usd,succeeded,failed,rejected,saved_usd,hit_rate",
        "TOTAL,,0,0,0,0.0000000000,0,0,0,0.0000000000,0.0",
    ]


# --- parameters ------------------------------------------------------------------------------


def test_parse_group_by() -> None:
    assert parse_group_by("team, Model,month,team") == ("team", "model", "month")
    assert parse_group_by("tag:Cost-Centre,day") == ("tag:Cost-Centre", "day")
    assert parse_group_by(None) == ()
    with pytest.raises(InvalidRequest, match="unknown group 'region'"):
        parse_group_by("team,region")
    with pytest.raises(InvalidRequest, match="invalid tag name"):
        parse_group_by('tag:a"b')
    with pytest.raises(InvalidRequest, match="invalid tag name"):
        parse_group_by("tag:")


def test_until_must_follow_since(engine: Engine) -> None:
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(InvalidRequest, match="later than since"):
        spend_report(engine, since=moment, until=moment)


# --- budgets -----------------------------------------------------------------------------------


def test_budget_forecast_is_spend_over_elapsed_times_period_length() -> None:
    start, end = datetime(2026, 11, 1, 4, tzinfo=UTC), datetime(2026, 12, 1, 5, tzinfo=UTC)
    now = datetime(2026, 11, 16, 5, tzinfo=UTC)  # 15 days and 1 hour into a 30-day, 1-hour month
    spend = Decimal("12.3456789012")
    expected = spend * Decimal((end - start).total_seconds()) / Decimal((now - start).total_seconds())
    assert budget_reports.forecast(spend, start, end, now) == expected.quantize(Decimal("1e-10"))
    assert budget_reports.forecast(spend, start, end, start) == spend
    assert budget_reports.forecast(Decimal(0), start, end, now) == 0
    assert budget_reports.forecast(Decimal(10), start, end, end) == Decimal(10)


def test_budget_report_per_key_and_team(engine: Engine) -> None:
    tz = "America/New_York"
    created = datetime(2026, 10, 1, tzinfo=UTC)
    teams = [
        {"id": "search", "budget_usd": Decimal(100), "budget_period": "monthly"},
        {"id": "billing"},
    ]
    keys = [
        {
            "id": "key_1",
            "alias": "daily-key",
            "team_id": "search",
            "budget_usd": Decimal(5),
            "budget_period": "daily",
        },
        {"id": "key_2", "alias": "no-budget"},
        {
            "id": "key_3",
            "alias": "revoked",
            "budget_usd": Decimal(1),
            "budget_period": "weekly",
            "revoked_at": created,
        },
    ]
    with engine.begin() as conn:
        for values in teams:
            conn.execute(sa.insert(table("teams")).values(created_at=created, updated_at=created, **values))
        for values in keys:
            conn.execute(
                sa.insert(table("api_keys")).values(
                    key_hash=values["id"] * 8,
                    key_prefix="sk-x",
                    created_at=created,
                    updated_at=created,
                    **values,
                )
            )
    now = datetime(2026, 11, 16, 17, tzinfo=UTC)  # 12:00 in New York, a Monday
    costs = [
        (datetime(2026, 11, 16, 4, 59, tzinfo=UTC), "key_1", "search", Decimal("1.5")),  # Sunday, local
        (datetime(2026, 11, 16, 5, 0, tzinfo=UTC), "key_1", "search", Decimal("2.25")),  # today
        (datetime(2026, 11, 16, 16, 0, tzinfo=UTC), "key_1", "search", Decimal("0.0000000001")),
        (datetime(2026, 11, 1, 3, 59, tzinfo=UTC), "key_2", "search", Decimal(40)),  # still October there
        (datetime(2026, 11, 1, 4, 0, tzinfo=UTC), "key_2", "search", Decimal(30)),
        (datetime(2026, 11, 16, 16, 0, tzinfo=UTC), "key_3", "search", None),
    ]
    rng = random.Random(1)
    rows = []
    for moment, key_id, team, cost in costs:
        row = make_row(moment, rng)
        row.update(key_id=key_id, team_id=team, cost_usd=cost)
        rows.append(row)
    insert_records(engine, rows)
    lines = budget_reports.budget_report(engine, now=now, tz=tz)
    by_name = {(line.scope, line.name): line for line in lines}
    assert set(by_name) == {("key", "daily-key"), ("key", "revoked"), ("team", "search")}

    daily = by_name["key", "daily-key"]
    assert daily.spend_usd == Decimal("2.2500000001")
    assert (daily.period_start, daily.period_end) == (
        datetime(2026, 11, 16, 5, tzinfo=UTC),
        datetime(2026, 11, 17, 5, tzinfo=UTC),
    )
    assert daily.forecast_usd == (Decimal("2.2500000001") * 2).quantize(Decimal("1e-10"))  # half the day gone
    assert daily.remaining_usd == Decimal(5) - Decimal("2.2500000001")

    team = by_name["team", "search"]
    month_spend = Decimal("1.5") + Decimal("2.25") + Decimal("0.0000000001") + Decimal(30)
    assert team.spend_usd == month_spend
    start, end = datetime(2026, 11, 1, 4, tzinfo=UTC), datetime(2026, 12, 1, 5, tzinfo=UTC)
    expected = (
        month_spend
        * Decimal((end - start) // timedelta(microseconds=1))
        / Decimal((now - start) // timedelta(microseconds=1))
    )
    assert team.forecast_usd == expected.quantize(Decimal("1e-10"))
    assert team.forecast_over == (team.forecast_usd > 100)

    revoked = by_name["key", "revoked"]
    assert revoked.status == "revoked" and revoked.spend_usd == 0 and revoked.forecast_usd == 0

    data = budget_reports.to_json(lines, now=now, tz=tz)
    assert {b["name"]: b["spend_usd"] for b in data["budgets"]}["daily-key"] == "2.2500000001"


def test_user_budgets_list_users_who_spent(engine: Engine) -> None:
    rng = random.Random(3)
    row = make_row(datetime(2026, 11, 16, 12, tzinfo=UTC), rng)
    row.update(user="dave", cost_usd=Decimal("0.5"))
    insert_records(engine, [row])
    lines = budget_reports.budget_report(
        engine, now=datetime(2026, 11, 16, 13, tzinfo=UTC), user_budget=(Decimal(2), "daily")
    )
    assert [(line.scope, line.name, line.spend_usd) for line in lines] == [("user", "dave", Decimal("0.5"))]
