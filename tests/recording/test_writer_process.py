"""Recording through the writer process: every record stored once, whatever happens to the writer."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from llmgate.config import build_deployments, parse_config
from llmgate.pricing import PriceBook
from llmgate.recording import frames
from llmgate.recording.recorder import Recorder
from llmgate.recording.writer_process import RecorderProcess, WriterSettings
from llmgate.store.db import create_engine_for
from llmgate.store.records import StoreWriter, list_records
from llmgate.telemetry.call_record import CallRecord, to_row
from support.configs import PRICED_GPT

(GPT,) = build_deployments(parse_config({"model_list": [PRICED_GPT]}))
RESPONSE = orjson.dumps(
    {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }
)


def call(i: int) -> CallRecord:
    return CallRecord(
        id=f"{i:032x}",
        created_at=datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
        endpoint="chat/completions",
        model="gpt",
        request={"model": "gpt", "messages": [{"role": "user", "content": f"question {i}"}]},
        stream=False,
        deployment=GPT,
        response_body=RESPONSE,
        latency_ms=1.5,
    )


def settings(tmp_path: Path) -> WriterSettings:
    return WriterSettings(
        database_url=f"sqlite:///{tmp_path / 'records.db'}",
        spill_dir=str(tmp_path / "spill"),
        batch_size=50,
        flush_interval_s=0.05,
        retry_interval_s=0.2,
        log_level="warning",
    )


def make(tmp_path: Path, **kwargs: Any) -> RecorderProcess:
    s = settings(tmp_path)
    engine = create_engine_for(s.database_url)
    fallback = Recorder(
        StoreWriter(engine),
        Path(s.spill_dir),
        prepare=lambda item: to_row(item, PriceBook()),
        batch_size=s.batch_size,
        flush_interval_s=s.flush_interval_s,
        retry_interval_s=s.retry_interval_s,
    )
    return RecorderProcess(s, fallback, **kwargs)


def stored(tmp_path: Path) -> list[dict[str, Any]]:
    engine = create_engine_for(settings(tmp_path).database_url)
    try:
        return list_records(engine, limit=100_000)
    finally:
        engine.dispose()


def assert_each_once(rows: list[dict[str, Any]], n: int) -> None:
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == n
    assert set(ids) == {f"{i:032x}" for i in range(n)}


async def test_records_go_through_the_writer_process(tmp_path: Path) -> None:
    recorder = make(tmp_path)
    await recorder.start()
    for i in range(300):
        recorder.submit(call(i))
    await recorder.flush()
    stats = recorder.stats()
    assert stats["writer"] == "process"
    assert stats["written"] == 300 and stats["queued"] == 0 and stats["spilled"] == 0
    rows = stored(tmp_path)  # stored by the writer before flush() returned, priced there
    assert_each_once(rows, 300)
    assert rows[0]["cost_usd"] > 0 and rows[0]["response_text"] == "hi"
    await recorder.stop()
    assert recorder._process is not None and recorder._process.returncode == 0


async def test_a_killed_writer_is_restarted_and_nothing_is_lost(tmp_path: Path) -> None:
    recorder = make(tmp_path)
    await recorder.start()
    for i in range(200):
        recorder.submit(call(i))
    await recorder.flush()
    first = recorder._process
    assert first is not None
    for i in range(200, 400):
        recorder.submit(call(i))
    await asyncio.sleep(0.01)  # some of these are in the pipe, some in the writer's queue
    os.kill(first.pid, signal.SIGKILL)
    for i in range(400, 600):
        recorder.submit(call(i))
        if i % 50 == 0:
            await asyncio.sleep(0.005)
    await recorder.flush()
    assert recorder._process is not first
    stats = recorder.stats()
    assert stats["writer_restarts"] == 1 and stats["writer"] == "process"
    await recorder.stop()
    assert_each_once(stored(tmp_path), 600)


async def test_a_writer_that_cannot_run_moves_recording_in_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = [sys.executable, "-c", "import sys; sys.exit(3)"]
    recorder = make(tmp_path, command=broken, max_restarts=1)
    await recorder.start()
    for i in range(100):
        recorder.submit(call(i))
    for _ in range(200):
        if recorder.stats()["writer"] == "in-process":
            break
        await asyncio.sleep(0.05)
    for i in range(100, 150):
        recorder.submit(call(i))
    await recorder.flush()
    assert recorder.stats()["writer"] == "in-process"
    assert "recording in the gateway process instead" in caplog.text
    await recorder.stop()
    assert_each_once(stored(tmp_path), 150)


async def test_stop_drains_without_a_flush(tmp_path: Path) -> None:
    recorder = make(tmp_path)
    await recorder.start()
    for i in range(250):
        recorder.submit(call(i))
    await recorder.stop()
    assert_each_once(stored(tmp_path), 250)
    recorder.submit(call(999))  # after stop: spilled by the fallback, not lost
    assert list((tmp_path / "spill").glob("spill-*"))


def test_writer_drains_when_the_gateway_vanishes(tmp_path: Path) -> None:
    """The gateway was killed: the writer's stdin closes, and it stores what it holds, then exits."""
    child = subprocess.Popen(
        [sys.executable, "-m", "llmgate.recording.writer_child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None
    child.stdin.write(frames.encode(settings(tmp_path)))
    child.stdin.write(frames.encode(("batch", 0, [call(i) for i in range(120)])))
    child.stdin.write(frames.encode(("batch", 1, [call(i) for i in range(120, 130)])))
    child.stdin.close()  # no stop frame: as if the gateway died
    assert child.stdout is not None
    with child.stdout:
        answers = child.stdout.read()
    assert child.wait(60) == 0
    messages, offset = [], 0
    while offset < len(answers):
        end = offset + 4 + int.from_bytes(answers[offset : offset + 4], "big")
        messages.append(frames.decode(answers[offset:end]))
        offset = end
    assert messages[-1][0] == "stopped" and messages[-1][1]["written"] == 130
    assert ("ack", 1) in [m[:2] for m in messages]  # both batches confirmed before it left
    assert_each_once(stored(tmp_path), 130)


GATEWAY_KILLED_AFTER_SUBMIT = """
import asyncio, os, signal, sys
from pathlib import Path
sys.path[:0] = [{here!r}, {tests!r}]
from test_writer_process import call, make

async def main():
    recorder = make(Path({tmp!r}))
    await recorder.start()
    await recorder.flush()  # the writer process is up
    for i in range(40):
        recorder.submit(call(i))
    await asyncio.sleep(0)  # the end of the loop turn in which these answers were written to clients
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def test_a_record_submitted_is_kept_when_the_gateway_is_killed_at_once(tmp_path: Path) -> None:
    """``kill -9`` once the loop turn that answered the clients is over: the records are in the
    writer's pipe already (not waiting for a batch to gather), and the orphaned writer stores them."""
    here = Path(__file__).resolve().parent
    script = GATEWAY_KILLED_AFTER_SUBMIT.format(here=str(here), tests=str(here.parent), tmp=str(tmp_path))
    gateway = subprocess.run([sys.executable, "-c", script], timeout=60, check=False)
    assert gateway.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 20
    while len(rows := stored(tmp_path)) < 40 and time.monotonic() < deadline:
        time.sleep(0.1)  # the orphaned writer drains its pipe, stores and exits
    assert_each_once(rows, 40)
