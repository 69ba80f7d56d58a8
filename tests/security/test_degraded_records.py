"""Item 1 (writer side): a record the pipeline cannot store touches no other record of its batch.

Through the real writer process and a real store: a batch of ordinary calls with, among them, a
call whose metadata is nested past the JSON encoder's depth (the row cannot be made), one whose
request is nested past pickle's depth (it cannot even be sent to the writer process), and one
with a string no store can encode (a lone surrogate: the store refuses the row). A response with
a NUL character, which PostgreSQL's text refuses, is stored whole with U+FFFD there. Every ordinary
record is stored as it was; each bad one is stored degraded (id, key, team, model, status, tokens
and cost kept where they can be, bodies replaced by a marker saying why), counted, and alerted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.engine import Engine

from llmgate.config import build_deployments, parse_config
from llmgate.pricing import PriceBook
from llmgate.recording.degrade import DEGRADED_KEY, DegradedAlerts, degraded_call_row, degraded_row
from llmgate.recording.recorder import Recorder
from llmgate.recording.writer_process import RecorderProcess, WriterSettings
from llmgate.store.alerts import list_alerts
from llmgate.store.db import create_engine_for
from llmgate.store.records import StoreWriter, list_records
from llmgate.telemetry.alerts import LogSink
from llmgate.telemetry.call_record import CallRecord, to_row
from support.configs import PRICED_GPT
from support.postgres import postgres_schema

(GPT,) = build_deployments(parse_config({"model_list": [PRICED_GPT]}))
PRICES = PriceBook()


def response(content: str = "hi", prompt_tokens: int = 10) -> bytes:
    return orjson.dumps(
        {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": 2,
                "total_tokens": prompt_tokens + 2,
            },
        }
    )


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth):
        value = {"a": value}
    return value


def call(i: int, **overrides: Any) -> CallRecord:
    fields: dict[str, Any] = {
        "id": f"{i:032x}",
        "created_at": datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        "endpoint": "chat/completions",
        "model": "gpt",
        "request": {"model": "gpt", "messages": [{"role": "user", "content": f"question {i}"}]},
        "stream": False,
        "deployment": GPT,
        "response_body": response(),
        "latency_ms": 1.5,
        "key_id": f"key-{i}",
        "team_id": "team-a",
    }
    fields.update(overrides)
    return CallRecord(**fields)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'records.db'}"
        return
    base = request.getfixturevalue("pg_url")
    with postgres_schema(base) as url:
        yield url


def recorder_for(url: str, spill: Path, engine: Engine) -> RecorderProcess:
    settings = WriterSettings(
        database_url=url,
        spill_dir=str(spill),
        batch_size=100,
        flush_interval_s=0.02,
        retry_interval_s=0.2,
        log_level="warning",
    )
    fallback = Recorder(  # the gateway's in-process recorder, wired as server/app.py wires it
        StoreWriter(engine),
        spill,
        prepare=lambda item: to_row(item, PRICES),
        salvage=lambda item, reason: degraded_call_row(item, PRICES, reason),
        degrade=degraded_row,
        on_degraded=DegradedAlerts([LogSink()], lambda: engine),
        batch_size=100,
        flush_interval_s=0.02,
        retry_interval_s=0.2,
    )
    return RecorderProcess(settings, fallback)


def wait_for_alerts(engine: Engine, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        alerts = [a for a in list_alerts(engine) if a["kind"] == "recorder.record_degraded"]
        if len(alerts) >= count or time.monotonic() > deadline:
            return alerts
        time.sleep(0.05)


async def test_a_record_the_store_cannot_take_is_stored_degraded_and_no_other_is_touched(
    store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine_for(store_url)
    recorder = recorder_for(store_url, tmp_path / "spill", engine)
    calls = [call(i) for i in range(60)]
    calls[10] = call(10, metadata=nested(300))  # the row cannot be made: past the JSON encoder's depth
    calls[25] = call(25, request={"model": "gpt", "metadata": nested(1_100)})  # past pickle's depth
    calls[40] = call(40, user="lone \ud800 surrogate")  # no store encodes it
    bad = {10, 25, 40}
    calls[50] = call(50, response_body=response(content="nul \x00 inside"))  # PostgreSQL's text refuses NUL
    await recorder.start()
    try:
        for item in calls:
            recorder.submit(item)
        await recorder.flush()
        stats = recorder.stats()
        rows = {row["id"]: row for row in list_records(engine, limit=1_000)}
        alerts = wait_for_alerts(engine, 2)
    finally:
        await recorder.stop()
        engine.dispose()

    assert sorted(rows) == sorted(item.id for item in calls)  # every record stored, each once
    for i, item in enumerate(calls):
        row = rows[item.id]
        assert (row["model"], row["key_id"], row["team_id"], row["status"]) == (
            "gpt",
            f"key-{i}",
            "team-a",
            "success",
        )
        if i in bad:
            assert orjson.loads(row["request_json"]).keys() == {DEGRADED_KEY}, i
            assert row["response_text"] is None and row["metadata_json"] is None
        elif i == 50:  # whole: the bodies are stored as bytes (store/bodies.py), a NUL and all
            assert orjson.loads(row["request_json"])["messages"][0]["content"] == "question 50"
            assert row["response_text"] == "nul \x00 inside" and row["prompt_tokens"] == 10
        else:  # untouched by its neighbours
            assert orjson.loads(row["request_json"])["messages"][0]["content"] == f"question {i}"
            assert row["response_text"] == "hi" and row["prompt_tokens"] == 10 and row["cost_usd"] > 0
    for i in bad:  # still charged: tokens and cost from the upstream's usage
        assert rows[calls[i].id]["prompt_tokens"] == 10 and rows[calls[i].id]["cost_usd"] > 0
    refused = rows[calls[40].id]  # the strict form: the string cleaned
    assert refused["user"] == "lone ? surrogate"
    assert "refused by the store" in orjson.loads(refused["request_json"])[DEGRADED_KEY]
    assert "could not be made into a row" in orjson.loads(rows[calls[10].id]["request_json"])[DEGRADED_KEY]

    assert stats["degraded"] == len(bad) and stats["lost"] == 0 and stats["rejected"] == 0
    assert stats["writer"] == "process" and stats["written"] == len(calls)
    assert not list((tmp_path / "spill").glob("rejected-*"))
    # an alert from each process that degraded a record (the writer, and this one for the pickle case)
    assert len(alerts) >= 2 and all(a["source"] == "recorder" for a in alerts)
    assert {a["details"]["record_id"] for a in alerts} <= {calls[i].id for i in bad}
    assert "recorder.record_degraded" in caplog.text  # the log sink of this process
