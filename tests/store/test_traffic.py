"""store.traffic on SQLite and PostgreSQL: time buckets, percentiles, request search, filter values.

Expectations are computed in Python from the generated rows, independently of the SQL under test.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from sqlalchemy.engine import Engine

from llmgate.store.records import insert_records
from llmgate.store.traffic import (
    RequestFilter,
    filter_values,
    pick_bucket_seconds,
    search_requests,
    traffic_series,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def row(created_at: datetime, **overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "created_at": created_at,
        "endpoint": "chat/completions",
        "model": "gpt-4o-mini",
        "status": "success",
        "status_code": 200,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost_usd": Decimal("0.0000012345"),
        "latency_ms": 1.0,
        "request_json": orjson.dumps({"messages": [{"role": "user", "content": "hello"}]}).decode(),
        "response_text": "hi there",
    }
    out.update(overrides)
    return out


def nearest_rank(values: list[float], p: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[-(-len(ordered) * p // 100) - 1]


def test_series_matches_python(engine: Engine) -> None:
    rng = random.Random(5)
    rows = []
    for _ in range(400):
        moment = T0 + timedelta(seconds=rng.randint(0, 6 * 3600 - 1), microseconds=rng.randint(0, 999_999))
        failed = rng.random() < 0.1
        rows.append(
            row(
                moment,
                status="error" if failed else "success",
                status_code=502 if failed else 200,
                latency_ms=round(rng.lognormvariate(5, 0.8), 3),
                prompt_tokens=rng.choice([None, rng.randint(0, 900)]),
                completion_tokens=rng.randint(0, 300),
                cost_usd=rng.choice([None, Decimal(rng.randint(0, 10**9)).scaleb(-10)]),
            )
        )
    rows.append(row(T0 - timedelta(microseconds=1)))  # just before the range
    rows.append(row(T0 + timedelta(hours=6)))  # at the (exclusive) end
    insert_records(engine, rows)
    width = 1800
    series = traffic_series(engine, T0, T0 + timedelta(hours=6), width)
    assert len(series.buckets) == 12
    assert [b.start for b in series.buckets] == [T0 + timedelta(seconds=width * i) for i in range(12)]
    inside = [r for r in rows if T0 <= r["created_at"] < T0 + timedelta(hours=6)]
    for index, bucket in enumerate(series.buckets):
        start = T0 + timedelta(seconds=width * index)
        mine = [r for r in inside if start <= r["created_at"] < start + timedelta(seconds=width)]
        ok = [r["latency_ms"] for r in mine if r["status"] == "success"]
        assert bucket.requests == len(mine)
        assert bucket.errors == sum(r["status"] == "error" for r in mine)
        assert bucket.input_tokens == sum(r["prompt_tokens"] or 0 for r in mine)
        assert bucket.output_tokens == sum(r["completion_tokens"] or 0 for r in mine)
        assert bucket.cost_usd == sum((r["cost_usd"] or Decimal(0) for r in mine), Decimal(0))
        assert bucket.p50_ms == nearest_rank(ok, 50)
        assert bucket.p95_ms == nearest_rank(ok, 95)
    totals = series.totals
    assert totals.requests == len(inside)
    assert totals.cost_usd == sum((r["cost_usd"] or Decimal(0) for r in inside), Decimal(0))
    ok_all = [r["latency_ms"] for r in inside if r["status"] == "success"]
    assert totals.p50_ms == nearest_rank(ok_all, 50) and totals.p95_ms == nearest_rank(ok_all, 95)


def test_empty_buckets_and_local_days(engine: Engine) -> None:
    tz = "Asia/Kolkata"  # +5:30: days begin at 18:30 UTC
    zone = ZoneInfo(tz)
    since = datetime(2026, 3, 1, tzinfo=zone).astimezone(UTC)
    insert_records(engine, [row(since + timedelta(days=2, hours=1)), row(since - timedelta(minutes=1))])
    series = traffic_series(engine, since, since + timedelta(days=4), 86400, tz)
    assert [b.start.astimezone(zone).day for b in series.buckets] == [1, 2, 3, 4]
    assert [b.requests for b in series.buckets] == [0, 0, 1, 0]
    assert series.buckets[0].p50_ms is None and series.totals.requests == 1
    with pytest.raises(ValueError):
        traffic_series(engine, since, since, 60)


def test_pick_bucket_seconds() -> None:
    assert pick_bucket_seconds(timedelta(hours=1)) == 60
    assert pick_bucket_seconds(timedelta(hours=24)) == 600
    assert pick_bucket_seconds(timedelta(days=7)) == 3600
    assert pick_bucket_seconds(timedelta(days=30)) == 6 * 3600
    assert pick_bucket_seconds(timedelta(days=3650)) == 30 * 86400


def test_search_filters_and_pages(engine: Engine) -> None:
    rows = [
        row(T0 + timedelta(seconds=i), model=m, status=s, status_code=c, key_id=k)
        for i, (m, s, c, k) in enumerate(
            [
                ("a", "success", 200, "key_1"),
                ("b", "error", 429, "key_1"),
                ("a", "error", 502, None),
                ("b", "success", 200, "key_2"),
                ("a", "success", 200, "key_2"),
            ]
        )
    ]
    same_moment = [row(T0 + timedelta(seconds=10), id=f"{n:032x}") for n in range(4)]
    insert_records(engine, rows + same_moment)

    def ids(where: RequestFilter, **kwargs: Any) -> list[str]:
        return [r["id"] for r in search_requests(engine, where, **kwargs)]

    newest_first = [r["id"] for r in sorted(same_moment, key=lambda r: r["id"], reverse=True)]
    newest_first += [r["id"] for r in reversed(rows)]
    assert ids(RequestFilter()) == newest_first
    assert ids(RequestFilter(model="a", since=T0)) == [rows[4]["id"], rows[2]["id"], rows[0]["id"]]
    assert ids(RequestFilter(status="error")) == [rows[2]["id"], rows[1]["id"]]
    assert ids(RequestFilter(status_code=429)) == [rows[1]["id"]]
    assert ids(RequestFilter(key_id="key_2")) == [rows[4]["id"], rows[3]["id"]]
    assert ids(RequestFilter(since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=3))) == [
        rows[2]["id"],
        rows[1]["id"],
    ]
    # pages through rows that share a timestamp: none lost, none twice
    seen: list[str] = []
    before = None
    while True:
        page = search_requests(engine, RequestFilter(), before=before, limit=3)
        if not page:
            break
        seen += [r["id"] for r in page]
        before = (page[-1]["created_at"], page[-1]["id"])
    assert seen == newest_first
    summary = search_requests(engine, RequestFilter(), limit=1)[0]
    assert "request_json" not in summary and summary["request_head"].startswith('{"messages"')


def test_text_search(engine: Engine) -> None:
    def prompt(text: str) -> str:
        return orjson.dumps({"messages": [{"role": "user", "content": text}]}).decode()

    texts = {
        "percent": prompt("a 100% sure thing"),
        "under": prompt("snake_case names"),
        "quote": prompt('she said "yes" \\ no'),
        "plain": prompt("Nothing Special here"),
    }
    stored = {name: row(T0, request_json=value, response_text=None) for name, value in texts.items()}
    stored["answer"] = row(T0, response_text="The answer is FORTY-TWO")
    insert_records(engine, list(stored.values()))
    by_id = {r["id"]: name for name, r in stored.items()}

    def found(text: str) -> set[str]:
        return {by_id[r["id"]] for r in search_requests(engine, RequestFilter(text=text))}

    assert found("100%") == {"percent"}
    assert found("%") == {"percent"}
    assert found("_") == {"under"}
    assert found("e_c") == {"under"}
    assert found('"yes"') == {"quote"}
    assert found("\\ no") == {"quote"}
    assert found("nothing special") == {"plain"}
    assert found("forty-two") == {"answer"}
    assert found("x" * 500) == set()  # capped, and matches nothing


def test_filter_values(engine: Engine) -> None:
    insert_records(
        engine,
        [
            row(T0, model="b", tags_json=orjson.dumps({"feature": "x", "env": "prod"}).decode()),
            row(T0, model="a", tags_json=orjson.dumps({"feature": "y"}).decode()),
            row(T0, model="a", tags_json="not json"),
            row(T0 - timedelta(days=2), model="old", tags_json=orjson.dumps({"ancient": "1"}).decode()),
        ],
    )
    values = filter_values(engine, T0 - timedelta(hours=1))
    assert values.models == ["a", "b"]
    assert values.tags == ["env", "feature"]
