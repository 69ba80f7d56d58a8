"""A call's session, parent and step reach ``requests`` through the real record writer process, on
SQLite and PostgreSQL; a call outside a session stores NULLs; records pickled before the fields
existed (by the previous version, and by the one before canaries) still load; a degraded record
keeps its session, parent and step."""

from __future__ import annotations

import os
import pickle
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from llmgate.pricing import PriceBook
from llmgate.recording import frames
from llmgate.recording.degrade import degraded_call_row, degraded_row
from llmgate.telemetry.call_record import CallRecord, _call_values, to_row
from recording.test_canary_records import GPT, RESPONSE, stored, writer
from support.postgres import postgres_schema

PARENT = uuid.uuid4().hex
SESSION_FIELDS = ("session_id", "parent_id", "step")


def call(session_id: str | None = None, parent_id: str | None = None, step: str | None = None) -> CallRecord:
    return CallRecord(
        id=uuid.uuid4().hex,
        created_at=datetime(2027, 1, 10, 12, 0, tzinfo=UTC),
        endpoint="chat/completions",
        model="gpt",
        request={"model": "gpt", "messages": [{"role": "user", "content": "question"}]},
        stream=False,
        deployment=GPT,
        response_body=RESPONSE,
        latency_ms=1.5,
        canary_id="gpt-v2",
        arm="stable",
        session_id=session_id,
        parent_id=parent_id,
        step=step,
    )


def sessions_of(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[name] for name in SESSION_FIELDS)


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


async def test_session_parent_and_step_reach_the_requests_table_through_the_writer_process(
    database_url: str, tmp_path: Path
) -> None:
    child, plain = call("agent-run-7", PARENT, "search"), call()
    spill = tmp_path / "spill"
    spill.mkdir()
    recorder, engine = writer(database_url, spill)
    try:
        await recorder.start()
        recorder.submit(child)
        recorder.submit(plain)
        await recorder.flush()
        stats = recorder.stats()
        await recorder.stop()
    finally:
        engine.dispose()
    assert stats["writer"] == "process" and stats["spilled"] == 0
    assert sessions_of(stored(database_url, child.id)) == ("agent-run-7", PARENT, "search")
    row = stored(database_url, plain.id)
    assert sessions_of(row) == (None, None, None)
    assert (row["canary_id"], row["arm"], row["response_text"]) == ("gpt-v2", "stable", "hi")


class _Pickled:
    """Pickles as a ``CallRecord`` of an older version did: its values without the last ``drop``."""

    def __init__(self, record: CallRecord, drop: int) -> None:
        self.values = _call_values(record)[:-drop]

    def __reduce__(self) -> tuple[Any, ...]:
        return (CallRecord, self.values)


def test_records_pickled_before_the_fields_existed_still_load() -> None:
    record = call()
    before_sessions, before_canaries = (
        _Pickled(record, 3),
        _Pickled(replace(record, canary_id=None, arm=None), 5),
    )
    (_, _, loaded) = frames.decode(frames.encode(("batch", 0, [before_sessions, before_canaries])))
    assert all(isinstance(item, CallRecord) for item in loaded)
    assert [sessions_of(to_row(item, PriceBook())) for item in loaded] == [(None, None, None)] * 2
    assert replace(loaded[0], stream_chunks=[]) == replace(record, stream_chunks=[])
    assert (loaded[1].canary_id, loaded[1].arm) == (None, None)
    # and a new one round-trips its session through the writer's pipe
    back = pickle.loads(pickle.dumps(call("s", PARENT, "plan"), protocol=pickle.HIGHEST_PROTOCOL))
    assert (back.session_id, back.parent_id, back.step) == ("s", PARENT, "plan")


def test_a_degraded_record_keeps_its_session_parent_and_step() -> None:
    record = call("agent-run-7", PARENT, "answer")
    assert sessions_of(degraded_call_row(record, PriceBook(), "test")) == ("agent-run-7", PARENT, "answer")
    bare = degraded_call_row(replace(record, tags={"k": object()}, response_body=b"\xff"), PriceBook(), "t")
    assert sessions_of(bare) == ("agent-run-7", PARENT, "answer")
    strict = degraded_row(to_row(record, PriceBook()) | {"parent_id": "p" * 40}, "insert", strict=True)
    assert sessions_of(strict) == ("agent-run-7", "p" * 32, "answer")  # VARCHAR(32) on PostgreSQL
