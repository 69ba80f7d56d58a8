"""The requests table through store.records: idempotent bulk insert, exact money, UTC times, reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.errors import StoreError
from llmgate.store.models import requests_table
from llmgate.store.records import (
    InvalidRecord,
    count_records,
    get_record,
    insert_records,
    list_records,
    rehydrate_row,
)
from llmgate.store.request_filter import RequestFilter

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "created_at": T0,
        "endpoint": "chat/completions",
        "model": "gpt-4o-mini",
        "deployment": "openai-1",
        "provider": "openai",
        "upstream_model": "gpt-4o-mini-2024-07-18",
        "auth_identity": "key:abc",
        "user": "alice",
        "stream": True,
        "status": "success",
        "status_code": 200,
        "error_type": None,
        "error_message": None,
        "request_json": '{"messages": [{"role": "user", "content": "hi"}]}',
        "response_text": "hello",
        "tool_calls_json": None,
        "finish_reason": "stop",
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "total_tokens": 15,
        "cached_tokens": 0,
        "reasoning_tokens": None,
        "tokens_estimated": False,
        "cost_usd": Decimal("0.0000012345"),
        "cost_unknown": False,
        "latency_ms": 123.25,
        "ttft_ms": 45.5,
        "attempts": 1,
        "attempts_json": "[]",
        "prompt_hash": "ab" * 32,
        "prompt_chars": 2,
        "response_chars": 5,
        "tags_json": '["a"]',
        "metadata_json": '{"k": "v"}',
        "key_id": "key_0123456789ab",
        "team_id": "platform",
        "cache_hit": True,
        "cache": "semantic-hit",
        "cache_key": "cd" * 32,
        "cache_similarity": 0.9731,
        "saved_usd": Decimal("0.0000098765"),
        "canary_id": "chat-v2",
        "arm": "candidate",
        "session_id": "agent-run-7",
        "parent_id": "ef" * 16,
        "step": "plan",
    }
    row.update(overrides)
    return row


def test_insert_and_read_back_every_column(engine: Engine) -> None:
    row = make_row()
    assert insert_records(engine, [row]) == 1
    assert get_record(engine, row["id"]) == row


def test_a_nul_character_keeps_the_record_whole(engine: Engine) -> None:
    """A model's answer (or a client's user id) with a NUL character: the answer is stored as bytes
    (``store/bodies.py``) and keeps it on both stores; PostgreSQL's text cannot hold one, so in the
    other columns it becomes U+FFFD there and the batch is stored whole (the record was stored
    degraded, its bodies dropped); SQLite keeps it as it came."""
    odd = make_row(response_text="a\x00b", user="bob\x00", error_message="x\x00")
    plain = make_row()
    assert insert_records(engine, [plain, odd]) == 2
    kept = "\ufffd" if engine.dialect.name == "postgresql" else "\x00"
    stored = get_record(engine, odd["id"])
    assert stored is not None
    assert (stored["response_text"], stored["user"], stored["error_message"]) == (
        "a\x00b",
        f"bob{kept}",
        f"x{kept}",
    )
    assert stored["request_json"] == odd["request_json"] and get_record(engine, plain["id"]) == plain


def test_insert_is_idempotent_on_id(engine: Engine) -> None:
    rows = [make_row() for _ in range(300)]
    assert insert_records(engine, rows[:100]) == 100
    assert insert_records(engine, rows) == 200
    assert insert_records(engine, rows) == 0
    assert count_records(engine) == 300


def test_insert_nothing(engine: Engine) -> None:
    assert insert_records(engine, []) == 0


def test_a_batch_with_the_same_id_twice_stores_it_once(engine: Engine) -> None:
    row = make_row()
    assert insert_records(engine, [row, dict(row)]) == 1
    assert count_records(engine) == 1


@pytest.mark.parametrize(
    "cost",
    [
        Decimal("0.0000012345"),
        Decimal("0.0000000001"),
        Decimal("12345678.9012345678"),  # 18 significant digits: a float keeps about 15
        Decimal("922337203.6854775807"),  # the largest amount the SQLite encoding holds
        Decimal("-0.5"),
        Decimal(0),
    ],
)
def test_cost_round_trips_exactly(engine: Engine, cost: Decimal) -> None:
    row = make_row(cost_usd=cost)
    insert_records(engine, [row])
    stored = get_record(engine, row["id"])
    assert stored is not None
    assert isinstance(stored["cost_usd"], Decimal)
    assert stored["cost_usd"] == cost


def test_cost_beyond_the_sqlite_range_is_an_invalid_record(engine: Engine) -> None:
    row = make_row(cost_usd=Decimal("922337203.6854775808"))
    if engine.dialect.name == "sqlite":
        with pytest.raises(InvalidRecord, match="out of range"):
            insert_records(engine, [row])
    else:
        insert_records(engine, [row])
        stored = get_record(engine, row["id"])
        assert stored is not None and stored["cost_usd"] == row["cost_usd"]


def test_cost_is_rounded_to_ten_places(engine: Engine) -> None:
    row = make_row(cost_usd=Decimal("0.00000000005"))  # half a unit of the last place rounds up
    insert_records(engine, [row])
    stored = get_record(engine, row["id"])
    assert stored is not None and stored["cost_usd"] == Decimal("0.0000000001")


def test_costs_sum_exactly_in_sql(engine: Engine) -> None:
    costs = [Decimal("0.0000012345"), Decimal("12345678.9012345678"), Decimal("0.1"), None]
    insert_records(engine, [make_row(cost_usd=cost) for cost in costs])
    table = requests_table()
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.sum(table.c.cost_usd))).scalar_one()
        dearer = conn.execute(
            sa.select(sa.func.count()).where(table.c.cost_usd > Decimal("0.05"))
        ).scalar_one()
    assert total == Decimal("12345679.0012358023")
    assert dearer == 2


def test_datetimes_come_back_aware_utc(engine: Engine) -> None:
    plus_two = timezone(timedelta(hours=2))
    aware = make_row(created_at=datetime(2025, 3, 1, 14, 0, tzinfo=plus_two))
    naive = make_row(created_at=datetime(2025, 3, 1, 12, 30))  # taken as UTC
    insert_records(engine, [aware, naive])
    stored_aware = get_record(engine, aware["id"])
    stored_naive = get_record(engine, naive["id"])
    assert stored_aware is not None and stored_naive is not None
    assert stored_aware["created_at"] == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert stored_aware["created_at"].utcoffset() == timedelta(0)
    assert stored_naive["created_at"] == datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


def test_defaults_fill_optional_columns(engine: Engine) -> None:
    minimal = {
        "id": uuid.uuid4().hex,
        "created_at": T0,
        "endpoint": "embeddings",
        "model": "text-embedding-3-small",
        "status": "success",
        "status_code": 200,
        "latency_ms": 3.0,
    }
    insert_records(engine, [minimal, make_row()])
    stored = get_record(engine, minimal["id"])
    assert stored is not None
    assert stored["stream"] is False and stored["tokens_estimated"] is False
    assert stored["cost_unknown"] is False and stored["attempts"] == 1
    assert stored["cost_usd"] is None and stored["user"] is None


def test_unknown_or_missing_columns_are_invalid_records(engine: Engine) -> None:
    with pytest.raises(InvalidRecord, match="unknown column"):
        insert_records(engine, [make_row(colour="blue")])
    row = make_row()
    del row["model"]
    with pytest.raises(InvalidRecord, match="missing column"):
        insert_records(engine, [row])
    with pytest.raises(InvalidRecord):
        insert_records(engine, [make_row(model=None)])  # NOT NULL
    with pytest.raises(InvalidRecord):
        insert_records(engine, [make_row(cost_usd="a lot")])
    assert count_records(engine) == 0


def test_an_unmigrated_store_is_a_store_error(empty_engine: Engine) -> None:
    with pytest.raises(StoreError):
        insert_records(empty_engine, [make_row()])
    with pytest.raises(StoreError):
        count_records(empty_engine)


def test_list_records_newest_first_with_filters(engine: Engine) -> None:
    rows = [
        make_row(created_at=T0 + timedelta(minutes=i), model=model, status=status)
        for i, (model, status) in enumerate(
            [("a", "success"), ("b", "error"), ("a", "error"), ("b", "success"), ("a", "success")]
        )
    ]
    insert_records(engine, rows)
    ids = [row["id"] for row in rows]

    assert [r["id"] for r in list_records(engine)] == ids[::-1]
    assert [r["id"] for r in list_records(engine, limit=2)] == [ids[4], ids[3]]
    assert [r["id"] for r in list_records(engine, RequestFilter(model="a"))] == [ids[4], ids[2], ids[0]]
    assert [r["id"] for r in list_records(engine, RequestFilter(status="error"))] == [ids[2], ids[1]]
    assert [r["id"] for r in list_records(engine, RequestFilter(model="a", status="success"))] == [
        ids[4],
        ids[0],
    ]
    since = T0 + timedelta(minutes=3)
    assert [r["id"] for r in list_records(engine, RequestFilter(since=since))] == [ids[4], ids[3]]
    # the same instant in another zone selects the same rows
    since_local = since.astimezone(timezone(timedelta(hours=-5)))
    assert [r["id"] for r in list_records(engine, RequestFilter(since=since_local))] == [ids[4], ids[3]]
    assert list_records(engine, RequestFilter(model="nope")) == []
    assert get_record(engine, "0" * 32) is None


def test_rows_survive_json_and_rehydration(engine: Engine) -> None:
    """The recorder's spill format: orjson with Decimal as a string, then rehydrate_row."""
    row = make_row(cost_usd=Decimal("12345678.9012345678"))
    line = orjson.dumps(row, default=str)
    back = rehydrate_row(orjson.loads(line))
    assert back == row
    assert insert_records(engine, [back]) == 1
    assert get_record(engine, row["id"]) == row
