"""A call's canary and arm reach ``requests`` through the real record writer process, on SQLite and
PostgreSQL; a call outside a canary stores NULLs; records and spill rows from before the fields
existed still load and store (as NULLs); a degraded record keeps its canary and arm."""

from __future__ import annotations

import os
import pickle
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.engine import Engine

from llmgate.config import build_deployments, parse_config
from llmgate.pricing import PriceBook
from llmgate.recording import frames
from llmgate.recording.degrade import degraded_call_row, degraded_row
from llmgate.recording.recorder import Recorder
from llmgate.recording.writer_process import RecorderProcess, WriterSettings
from llmgate.store.db import create_engine_for
from llmgate.store.records import StoreWriter, get_record
from llmgate.telemetry.call_record import CallRecord, _call_values, to_row
from support.configs import PRICED_GPT
from support.postgres import postgres_schema

(GPT,) = build_deployments(parse_config({"model_list": [PRICED_GPT]}))
RESPONSE = orjson.dumps(
    {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }
)


def call(canary_id: str | None = None, arm: str | None = None) -> CallRecord:
    return CallRecord(
        id=uuid.uuid4().hex,
        created_at=datetime(2026, 12, 15, 12, 0, tzinfo=UTC),
        endpoint="chat/completions",
        model="gpt",
        request={"model": "gpt", "messages": [{"role": "user", "content": "question"}]},
        stream=False,
        deployment=GPT,
        response_body=RESPONSE,
        latency_ms=1.5,
        canary_id=canary_id,
        arm=arm,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'records.db'}"
        return
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        yield url


def writer(database_url: str, spill: Path) -> tuple[RecorderProcess, Engine]:
    settings = WriterSettings(
        database_url=database_url,
        spill_dir=str(spill),
        batch_size=50,
        flush_interval_s=0.05,
        retry_interval_s=0.2,
        log_level="warning",
    )
    engine = create_engine_for(database_url)
    fallback = Recorder(
        StoreWriter(engine),
        spill,
        prepare=lambda item: to_row(item, PriceBook()),
        batch_size=50,
        flush_interval_s=0.05,
        retry_interval_s=0.2,
    )
    return RecorderProcess(settings, fallback), engine


def stored(database_url: str, record_id: str) -> dict[str, Any]:
    engine = create_engine_for(database_url)
    try:
        row = get_record(engine, record_id)
    finally:
        engine.dispose()
    assert row is not None, record_id
    return row


async def test_canary_and_arm_reach_the_requests_table_through_the_writer_process(
    database_url: str, tmp_path: Path
) -> None:
    candidate, stable, plain = call("chat-v2", "candidate"), call("chat-v2", "stable"), call()
    # a spill row written before the columns existed (a previous llmgate's), replayed at start
    old_row = to_row(call(), PriceBook())
    del old_row["canary_id"], old_row["arm"]
    spill = tmp_path / "spill"
    spill.mkdir()
    (spill / "spill-999999-aaaaaaaaaaaa.jsonl").write_bytes(orjson.dumps(old_row, default=str) + b"\n")

    recorder, engine = writer(database_url, spill)
    try:
        await recorder.start()
        for record in (candidate, stable, plain):
            recorder.submit(record)
        await recorder.flush()
        stats = recorder.stats()
        await recorder.stop()
    finally:
        engine.dispose()

    assert stats["writer"] == "process" and stats["spilled"] == 0
    got = {r.id: stored(database_url, r.id) for r in (candidate, stable, plain)}
    assert (got[candidate.id]["canary_id"], got[candidate.id]["arm"]) == ("chat-v2", "candidate")
    assert (got[stable.id]["canary_id"], got[stable.id]["arm"]) == ("chat-v2", "stable")
    assert (got[plain.id]["canary_id"], got[plain.id]["arm"]) == (None, None)
    replayed = stored(database_url, old_row["id"])
    assert (replayed["canary_id"], replayed["arm"]) == (None, None)
    assert replayed["response_text"] == "hi"


class _OldCallRecord:
    """Pickles as a ``CallRecord`` did before ``canary_id`` and ``arm``: its values without them."""

    def __init__(self, record: CallRecord) -> None:
        self.values = _call_values(record)[:-5]  # the canary's two fields, and the session's three after them

    def __reduce__(self) -> tuple[Any, ...]:
        return (CallRecord, self.values)


def test_a_record_pickled_before_the_fields_existed_still_loads() -> None:
    record = call()
    old_frame = frames.encode(("batch", 0, [_OldCallRecord(record)]))
    (_, _, [loaded]) = frames.decode(old_frame)
    assert isinstance(loaded, CallRecord)
    assert (loaded.canary_id, loaded.arm) == (None, None)
    assert replace(loaded, stream_chunks=[]) == replace(record, stream_chunks=[])
    # and a new one round-trips its canary through the writer's pipe
    new = call("chat-v2", "candidate")
    back = pickle.loads(pickle.dumps(new, protocol=pickle.HIGHEST_PROTOCOL))
    assert (back.canary_id, back.arm) == ("chat-v2", "candidate")


def test_a_degraded_record_keeps_its_canary_and_arm() -> None:
    record = call("chat-v2", "candidate")
    row = degraded_call_row(record, PriceBook(), "test")
    assert (row["canary_id"], row["arm"]) == ("chat-v2", "candidate")
    strict = degraded_row(to_row(record, PriceBook()) | {"arm": "x" * 40}, "insert", strict=True)
    assert (strict["canary_id"], strict["arm"]) == ("chat-v2", "x" * 16)  # VARCHAR(16) on PostgreSQL
    bare = degraded_call_row(replace(record, tags={"k": object()}, response_body=b"\xff"), PriceBook(), "t")
    assert (bare["canary_id"], bare["arm"]) == ("chat-v2", "candidate")
