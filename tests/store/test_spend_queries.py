"""store.spend's report queries on SQLite and PostgreSQL: grouped sums, local dates, pricing gaps.

Every expectation is computed in Python from the rows as generated (``zoneinfo`` for local dates),
independently of the SQL under test.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from sqlalchemy.engine import Engine

from llmgate.store.pricing_gaps import pricing_gaps
from llmgate.store.records import insert_records
from llmgate.store.rollup_reads import spend_sums
from llmgate.store.spend import offset_segments

ODD_ZONES = [
    "America/New_York",  # -5/-4, DST
    "Asia/Kolkata",  # +5:30
    "Asia/Kathmandu",  # +5:45
    "Australia/Lord_Howe",  # +10:30/+11: a 30-minute DST
    "America/St_Johns",  # -3:30/-2:30
    "Pacific/Chatham",  # +12:45/+13:45
    "Europe/London",
    "UTC",
]


def row(created_at: datetime, **overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "created_at": created_at,
        "endpoint": "chat/completions",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "deployment": "openai-1",
        "status": "success",
        "status_code": 200,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost_usd": Decimal("0.0000012345"),
        "latency_ms": 1.0,
    }
    out.update(overrides)
    return out


def local_date(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


# --- offsets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tz", ODD_ZONES)
def test_offset_segments_agree_with_zoneinfo(tz: str) -> None:
    start, end = datetime(2025, 12, 20, 7, 13, tzinfo=UTC), datetime(2027, 1, 10, tzinfo=UTC)
    segments = offset_segments(tz, start, end)
    assert segments[0][0] == start
    assert [s for s, _ in segments] == sorted(s for s, _ in segments)
    rng = random.Random(tz)
    span = (end - start).total_seconds()
    probes = [start + timedelta(seconds=rng.random() * span) for _ in range(3000)]
    probes += [s + d for s, _ in segments[1:] for d in (timedelta(microseconds=-1), timedelta(0))]
    for probe in probes:
        offset = next(o for s, o in reversed(segments) if s <= probe)
        expected = probe.astimezone(ZoneInfo(tz)).utcoffset()
        assert expected is not None and offset == expected.total_seconds(), (tz, probe)


def test_new_york_changes_twice_in_2026() -> None:
    segments = offset_segments(
        "America/New_York", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert segments == [
        (datetime(2026, 1, 1, tzinfo=UTC), -5 * 3600),
        (datetime(2026, 3, 8, 7, tzinfo=UTC), -4 * 3600),
        (datetime(2026, 11, 1, 6, tzinfo=UTC), -5 * 3600),
    ]
    assert offset_segments(
        "Asia/Kolkata", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    ) == [(datetime(2026, 1, 1, tzinfo=UTC), 19800)]


# --- local dates in SQL -------------------------------------------------------------------------


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"])
def test_local_dates_at_midnights_month_ends_and_dst(engine: Engine, tz: str) -> None:
    zone = ZoneInfo(tz)
    moments = []
    day = date(2026, 3, 25)
    while day < date(2026, 11, 8):  # both DST changes of the northern and of the southern zones
        if day.day in (1, 2, 28, 29, 30, 31) or day.month in (3, 4, 10, 11):
            midnight = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
            moments += [midnight - timedelta(microseconds=1), midnight, midnight + timedelta(minutes=59)]
        day += timedelta(days=1)
    insert_records(engine, [row(m) for m in moments])
    since = moments[0]
    sums = spend_sums(engine, ["date"], since, None, tz)
    expected: dict[date, int] = {}
    for moment in moments:
        expected[local_date(moment, tz)] = expected.get(local_date(moment, tz), 0) + 1
    assert {s.groups[0]: s.requests for s in sums} == expected
    assert all(isinstance(s.groups[0], date) for s in sums)


def test_a_bounded_range_is_inclusive_exclusive(engine: Engine) -> None:
    since, until = datetime(2026, 11, 1, 4, tzinfo=UTC), datetime(2026, 11, 2, 5, tzinfo=UTC)
    moments = [since - timedelta(microseconds=1), since, until - timedelta(microseconds=1), until]
    insert_records(engine, [row(m) for m in moments])
    sums = spend_sums(engine, ["date"], since, until, "America/New_York")
    assert [(s.groups, s.requests) for s in sums] == [((date(2026, 11, 1),), 2)]


# --- grouped sums --------------------------------------------------------------------------------


def generated(n: int = 400) -> list[dict[str, Any]]:
    rng = random.Random(17)
    out = []
    for _ in range(n):
        tags = {
            k: rng.choice(["a", "b", "c"]) for k in ("feature", "cost centre", "a.b") if rng.random() < 0.6
        }
        error = rng.random() < 0.2
        out.append(
            row(
                datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 90 * 24 * 60)),
                team_id=rng.choice([None, "search", "billing"]),
                key_id=rng.choice([None, "key_1", "key_2"]),
                user=rng.choice([None, "alice", "bob"]),
                model=rng.choice(["gpt-4o", "claude"]),
                provider=rng.choice([None, "openai", "anthropic"]),
                status="error" if error else "success",
                status_code=500 if error else 200,
                prompt_tokens=rng.choice([None, rng.randint(0, 999)]),
                completion_tokens=rng.choice([None, rng.randint(0, 999)]),
                cost_usd=rng.choice([None, Decimal(rng.randint(0, 10**12)).scaleb(-10)]),
                tags_json=orjson.dumps(tags).decode() if tags else rng.choice([None, "{}"]),
            )
        )
    return out


def python_sums(
    rows: list[dict[str, Any]], dimensions: list[str]
) -> dict[tuple[Any, ...], tuple[int, int, int, Decimal]]:
    columns = {"team": "team_id", "key": "key_id", "user": "user", "model": "model", "provider": "provider"}
    out: dict[tuple[Any, ...], tuple[int, int, int, Decimal]] = {}
    for r in rows:
        group = []
        for d in dimensions:
            if d.startswith("tag:"):
                group.append((orjson.loads(r["tags_json"]) if r["tags_json"] else {}).get(d[4:]))
            elif d == "date":
                group.append(local_date(r["created_at"], "UTC"))
            else:
                group.append(r[columns[d]])
        n, i, o, c = out.get(tuple(group), (0, 0, 0, Decimal(0)))
        out[tuple(group)] = (
            n + 1,
            i + (r["prompt_tokens"] or 0),
            o + (r["completion_tokens"] or 0),
            c + (r["cost_usd"] or 0),
        )
    return out


@pytest.mark.parametrize(
    "dimensions",
    [
        [],
        ["team"],
        ["key"],
        ["user"],
        ["model"],
        ["provider"],
        ["date"],
        ["tag:feature"],
        ["tag:cost centre"],
        ["tag:a.b"],
        ["team", "model", "date"],
        ["tag:feature", "key", "user", "provider"],
    ],
    ids=lambda d: ",".join(d) or "none",
)
def test_spend_sums_match_python(engine: Engine, dimensions: list[str]) -> None:
    rows = generated()
    insert_records(engine, rows)
    sums = spend_sums(engine, dimensions, datetime(2026, 1, 1, tzinfo=UTC))
    got = {s.groups: (s.requests, s.prompt_tokens, s.completion_tokens, s.cost_usd) for s in sums}
    assert got == python_sums(rows, dimensions)
    assert all(isinstance(s.cost_usd, Decimal) for s in sums)


def test_null_costs_and_tokens_add_zero(engine: Engine) -> None:
    t = datetime(2026, 11, 1, tzinfo=UTC)
    insert_records(
        engine,
        [
            row(t, team_id="x", cost_usd=None, cost_unknown=True, prompt_tokens=None, completion_tokens=None),
            row(t, team_id="x", cost_usd=None, status="error", status_code=502),
        ],
    )
    [sums] = spend_sums(engine, ["team"], t)
    assert (sums.groups, sums.requests, sums.prompt_tokens, sums.completion_tokens, sums.cost_usd) == (
        ("x",),
        2,
        10,
        5,
        Decimal(0),
    )


#: (status, status_code, provider) as the gateway records them, and how the reports count each
OUTCOME_ROWS = [
    ("success", 200, "openai", "succeeded"),
    ("error", 502, "openai", "failed"),  # the upstream's 500, passed on
    ("error", 429, "openai", "failed"),  # the upstream's own rate limit: it was called
    ("error", 400, "openai", "failed"),  # the upstream refused the body: it was called
    ("error", 504, "openai", "failed"),  # timed out
    ("error", 200, "openai", "failed"),  # a stream cut short after its 200
    ("error", 503, None, "failed"),  # no deployment left to try
    ("error", 500, None, "failed"),  # the gateway's own error
    ("error", 429, None, "rejected"),  # a budget or rate limit of the gateway
    ("error", 403, None, "rejected"),  # a model the key may not use
    ("error", 404, None, "rejected"),  # no such model
    ("error", 400, None, "rejected"),  # a body the gateway would not take
    ("error", 413, None, "rejected"),  # too large
]


def test_requests_split_into_succeeded_failed_and_rejected(engine: Engine) -> None:
    start = datetime(2026, 10, 1, 12, tzinfo=UTC)
    rows = []
    expected: dict[tuple[Any, ...], list[int]] = {}
    for day in range(20):  # enough days for SQLite's threads (a file store), each merged
        for index, (status, code, provider, outcome) in enumerate(OUTCOME_ROWS):
            if (day + index) % 3 == 0:
                continue
            team = "a" if index % 2 else "b"
            fields = {"provider": provider, "deployment": "openai-1" if provider else None}
            rows.append(
                row(start + timedelta(days=day), team_id=team, status=status, status_code=code, **fields)
            )
            counts = expected.setdefault((team,), [0, 0, 0, 0])
            counts[0] += 1
            counts[1 + ["succeeded", "failed", "rejected"].index(outcome)] += 1
    insert_records(engine, rows)
    sums = spend_sums(engine, ["team"], datetime(2026, 1, 1, tzinfo=UTC))
    got = {s.groups: [s.requests, s.succeeded, s.failed, s.rejected] for s in sums}
    assert got == expected
    by_day = spend_sums(engine, ["date"], datetime(2026, 1, 1, tzinfo=UTC), None, "Asia/Kolkata")
    assert sum(s.rejected for s in by_day) == sum(c[3] for c in expected.values())
    assert all(s.succeeded + s.failed + s.rejected == s.requests for s in by_day)


def test_an_empty_range_has_no_rows(engine: Engine) -> None:
    assert spend_sums(engine, [], datetime(2026, 1, 1, tzinfo=UTC)) == []
    assert spend_sums(engine, ["date", "team"], datetime(2026, 1, 1, tzinfo=UTC), None, "Asia/Kolkata") == []


def test_numeric_tag_values_come_back_as_text(engine: Engine) -> None:
    t = datetime(2026, 11, 1, tzinfo=UTC)
    insert_records(engine, [row(t, tags_json='{"tier": 3}'), row(t, tags_json='{"tier": "3"}')])
    [sums] = spend_sums(engine, ["tag:tier"], t)
    assert sums.groups == ("3",) and sums.requests == 2


def test_unknown_dimensions_and_bad_tag_names_are_refused(engine: Engine) -> None:
    t = datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="unknown spend dimension"):
        spend_sums(engine, ["region"], t)
    with pytest.raises(ValueError, match="invalid tag name"):
        spend_sums(engine, ['tag:x"y'], t)


# --- pricing gaps ---------------------------------------------------------------------------------


def test_pricing_gaps_group_the_requests_without_a_price(engine: Engine) -> None:
    t = datetime(2026, 11, 1, 12, tzinfo=UTC)
    unknown = {"cost_usd": None, "cost_unknown": True}
    insert_records(
        engine,
        [
            row(t, model="private-llm", deployment="vllm-1", provider="hosted_vllm", **unknown),
            row(
                t + timedelta(hours=5),
                model="private-llm",
                deployment="vllm-1",
                provider="hosted_vllm",
                **unknown,
            ),
            row(
                t + timedelta(hours=1),
                model="private-llm",
                deployment="vllm-2",
                provider="hosted_vllm",
                **unknown,
            ),
            row(t - timedelta(days=40), model="old", deployment=None, provider=None, **unknown),
            row(t, model="gpt-4o-mini"),  # priced
            row(t, model="free", cost_usd=None),  # no cost, but not flagged
        ],
    )
    gaps = pricing_gaps(engine, since=t - timedelta(days=1))
    assert [(g.model, g.deployment, g.provider, g.requests, g.first_seen, g.last_seen) for g in gaps] == [
        ("private-llm", "vllm-1", "hosted_vllm", 2, t, t + timedelta(hours=5)),
        ("private-llm", "vllm-2", "hosted_vllm", 1, t + timedelta(hours=1), t + timedelta(hours=1)),
    ]
    every = pricing_gaps(engine)  # most requests first, then by model
    assert [(g.model, g.deployment, g.requests) for g in every] == [
        ("private-llm", "vllm-1", 2),
        ("old", None, 1),
        ("private-llm", "vllm-2", 1),
    ]
    assert pricing_gaps(engine, until=t - timedelta(days=39)) == [every[1]]
