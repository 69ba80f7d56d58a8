"""The recorder: every record stored exactly once, through outages, crashes, a full queue and shutdown.

Outages are real: PostgreSQL is reached through a TCP proxy that the test cuts and restores, SQLite
is locked by another connection holding ``BEGIN EXCLUSIVE``. Finer behaviour (bisecting bad rows,
claims, stop timeouts) uses an in-memory store whose ``write`` the test controls.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from llmgate.errors import StoreError
from llmgate.recording.recorder import Recorder
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.models import requests_table
from llmgate.store.records import InvalidRecord, count_records, insert_records
from support.postgres import postgres_schema
from support.tcp_proxy import TcpProxy

LOGGER = "llmgate.recording.recorder"
FAST = {"batch_size": 50, "flush_interval_s": 0.02, "retry_interval_s": 0.1}


def make_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "created_at": datetime.now(UTC) - timedelta(microseconds=secrets.randbelow(10**6)),
        "endpoint": "chat/completions",
        "model": "gpt-4o-mini",
        "stream": False,
        "status": "success",
        "status_code": 200,
        "request_json": '{"messages": [{"role": "user", "content": "hi"}]}',
        "response_text": "hello",
        "prompt_tokens": 9,
        "completion_tokens": 2,
        "total_tokens": 11,
        "tokens_estimated": True,
        "cost_usd": Decimal("0.0000012345"),
        "cost_unknown": False,
        "latency_ms": 12.5,
        "attempts": 1,
    }
    row.update(overrides)
    return row


def spill_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.startswith(("spill-", ".spill-")))


def write_spill_file(path: Path, rows: list[dict[str, Any]], *, tail: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(row, default=str) + b"\n" for row in rows) + tail)


def rejected_file(directory: Path) -> bytes:
    (path,) = directory.glob("rejected-*.jsonl")
    return path.read_bytes()


def stored_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(requests_table().c.id)).scalars())


# --- an in-memory store whose write the test controls -----------------------------------------


class MemoryStore:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.down = False
        self.gate: threading.Event | None = None  # when set: writes wait for it
        self.calls = 0
        self._lock = threading.Lock()

    def write(self, rows: list[dict[str, Any]]) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        with self._lock:
            self.calls += 1
            if self.down:
                raise StoreError("store write failed: OperationalError: connection refused")
            if any(row.get("model") == "poison" for row in rows):
                raise InvalidRecord("record rejected by the store: DataError: bad value")
            for row in rows:
                self.rows.setdefault(row["id"], row)


@pytest.fixture
def memory() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def spill(tmp_path: Path) -> Path:
    return tmp_path / "spill"


# --- real stores --------------------------------------------------------------------------------


@dataclass
class Rig:
    """A migrated store: ``engine`` for the recorder (through the outage), ``check`` for assertions."""

    url: str
    engine: Engine
    check: Engine
    cut: Callable[[], None]
    restore: Callable[[], None]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            path = tmp_path / "store.db"
            url = f"sqlite:///{path}"
            engine = create_engine_for(url, busy_timeout_ms=100)
            check = create_engine_for(url)
            locker = sqlite3.connect(path, isolation_level=None, timeout=10)
            stack.callback(locker.close)

            def cut() -> None:
                locker.execute("BEGIN EXCLUSIVE")  # every other writer now gets "database is locked"

            def restore() -> None:
                locker.execute("COMMIT")

        else:
            base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
            if not base:
                pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
            url = stack.enter_context(postgres_schema(base))
            target = make_url(url)
            proxy = stack.enter_context(TcpProxy(target.host or "127.0.0.1", target.port or 5432))
            engine = create_engine_for(target.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
            check = create_engine_for(url)
            cut, restore = proxy.cut, proxy.restore
        stack.callback(check.dispose)
        stack.callback(engine.dispose)
        upgrade(check)
        yield Rig(url, engine, check, cut, restore)


# --- the tests ------------------------------------------------------------------------------------


async def test_every_record_is_stored_exactly_once(
    rig: Rig, spill: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    recorder = Recorder(functools.partial(insert_records, rig.engine), spill, **FAST)
    await recorder.start()
    rows = [make_row() for _ in range(2_000)]
    for row in rows:
        recorder.submit(row)
    await recorder.flush()
    await recorder.stop()
    assert sorted(stored_ids(rig.check)) == sorted(row["id"] for row in rows)
    stats = recorder.stats()
    assert stats["written"] == 2_000 and stats["spilled"] == 0 and stats["queued"] == 0
    assert stats["store_ok"] is True and stats["last_error"] is None
    assert spill_files(spill) == []
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []  # nothing per record


async def test_store_killed_mid_run_and_brought_back(
    rig: Rig, spill: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    recorder = Recorder(functools.partial(insert_records, rig.engine), spill, **FAST)
    await recorder.start()
    ids: list[str] = []

    def submit(n: int) -> None:
        for _ in range(n):
            row = make_row()
            ids.append(row["id"])
            recorder.submit(row)

    async def produce() -> None:  # a steady stream straddling the outage
        for _ in range(40):
            submit(10)
            await asyncio.sleep(0.02)

    submit(200)
    await recorder.flush()
    assert count_records(rig.check) == 200

    producer = asyncio.create_task(produce())
    await asyncio.sleep(0.2)
    rig.cut()
    await asyncio.sleep(0.5)
    during = recorder.stats()
    assert during["store_ok"] is False
    assert during["spill_files"] >= 1 and during["spill_bytes"] > 0
    assert during["last_error"]
    rig.restore()
    await producer
    submit(200)
    await recorder.flush()

    stats = recorder.stats()
    await recorder.stop()
    assert len(ids) == 800
    assert sorted(stored_ids(rig.check)) == sorted(ids)  # each exactly once
    assert spill_files(spill) == []
    assert stats["store_ok"] is True
    assert stats["spilled"] > 0
    assert stats["replayed"] == stats["spilled"]  # every spilled row replayed once, by one replay
    assert stats["written"] + stats["replayed"] >= 800
    # the recorder's own lines (psycopg may add one of its own when the cut lands mid-pipeline)
    messages = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]
    assert [m for m in messages if m[0] == "WARNING"] == [
        ("WARNING", m[1]) for m in messages if "unavailable" in m[1]
    ]
    assert sum("unavailable" in m for _, m in messages) == 1
    assert sum(m.startswith("recorder: the store is back") for _, m in messages) == 1
    assert all("Traceback" not in m and "INSERT" not in m for _, m in messages)


async def test_spill_files_of_a_previous_process_are_replayed_on_start(rig: Rig, spill: Path) -> None:
    already = make_row()
    insert_records(rig.check, [already])  # stored before that process crashed
    first = [make_row() for _ in range(120)] + [already]
    second = [make_row() for _ in range(30)]
    write_spill_file(spill / "spill-999999-aaaaaaaaaaaa.jsonl", first, tail=b'{"id": "torn-by-the-cr')
    write_spill_file(spill / "spill-999998-bbbbbbbbbbbb.jsonl.replaying-999998", second)  # a dead claim

    recorder = Recorder(functools.partial(insert_records, rig.engine), spill, **FAST)
    await recorder.start()
    await recorder.flush()
    stats = recorder.stats()
    await recorder.stop()

    expected = {row["id"] for row in first + second}
    assert sorted(stored_ids(rig.check)) == sorted(expected)
    assert spill_files(spill) == []
    assert stats["replayed"] == 151
    assert stats["rejected"] == 1  # the torn line, kept aside
    assert rejected_file(spill) == b'{"id": "torn-by-the-cr\n'


async def test_replaying_a_file_twice_stores_nothing_twice(
    memory: MemoryStore, spill: Path, tmp_path: Path
) -> None:
    """A crash between inserting a file's rows and deleting it: the rows come round again."""
    rows = [make_row() for _ in range(75)]
    write_spill_file(spill / "spill-1-000000000001.jsonl", rows)
    shutil.copy(spill / "spill-1-000000000001.jsonl", spill / "spill-1-000000000001.jsonl.replaying-2")

    recorder = Recorder(memory.write, spill, **FAST)
    await recorder.start()
    await recorder.flush()
    await recorder.stop()
    assert recorder.stats()["replayed"] == 150
    assert memory.rows == {row["id"]: row for row in rows}  # rehydrated to the same values and types
    assert spill_files(spill) == []


async def test_a_live_claim_is_left_to_its_owner(memory: MemoryStore, spill: Path) -> None:
    rows = [make_row() for _ in range(10)]
    path = spill / "spill-4242-cccccccccccc.jsonl.replaying-4242"
    write_spill_file(path, rows)
    owner = os.open(path, os.O_RDONLY)
    fcntl.flock(owner, fcntl.LOCK_EX)  # another process is replaying it
    recorder = Recorder(memory.write, spill, **FAST)
    await recorder.start()
    try:
        await recorder.flush()
        assert path.exists() and memory.rows == {}
    finally:
        os.close(owner)  # ... and dies
    await recorder.flush()
    await recorder.stop()
    assert set(memory.rows) == {row["id"] for row in rows}
    assert spill_files(spill) == []


async def test_a_full_queue_spills_without_blocking_and_is_replayed(memory: MemoryStore, spill: Path) -> None:
    memory.gate = threading.Event()  # the store is slow: the first batch hangs in write
    recorder = Recorder(memory.write, spill, queue_size=20, batch_size=10, flush_interval_s=0.01)
    await recorder.start()
    rows = [make_row() for _ in range(20)]
    for row in rows[:10]:
        recorder.submit(row)
    await asyncio.sleep(0.1)  # the writer holds those ten in write()
    rows += [make_row() for _ in range(500)]
    started = time.perf_counter()
    for row in rows[10:]:
        recorder.submit(row)
    assert time.perf_counter() - started < 0.1  # submit never waited for the store or the disk
    await asyncio.sleep(0.3)
    assert recorder.stats()["spilled"] == 500 - 20 + 10  # all but the queue's twenty
    memory.gate.set()
    await recorder.flush()
    await recorder.stop()
    assert set(memory.rows) == {row["id"] for row in rows}
    assert recorder.stats()["replayed"] == 490
    assert spill_files(spill) == []


async def test_stop_drains_into_the_store(rig: Rig, spill: Path) -> None:
    recorder = Recorder(functools.partial(insert_records, rig.engine), spill, **FAST)
    await recorder.start()
    rows = [make_row() for _ in range(1_234)]
    for row in rows:
        recorder.submit(row)
    await recorder.stop()
    assert count_records(rig.check) == 1_234
    assert recorder.stats()["queued"] == 0


async def test_stop_with_the_store_down_spills_and_the_next_start_replays(
    memory: MemoryStore, spill: Path
) -> None:
    memory.down = True
    recorder = Recorder(memory.write, spill, **FAST)
    await recorder.start()
    rows = [make_row() for _ in range(300)]
    for row in rows:
        recorder.submit(row)
    await recorder.stop()
    assert recorder.stats()["spilled"] == 300 and memory.rows == {}
    assert len(spill_files(spill)) >= 1

    memory.down = False
    successor = Recorder(memory.write, spill, **FAST)
    await successor.start()
    await successor.flush()
    await successor.stop()
    assert set(memory.rows) == {row["id"] for row in rows}
    assert spill_files(spill) == []


async def test_stop_spills_what_a_hung_store_does_not_take(memory: MemoryStore, spill: Path) -> None:
    memory.gate = threading.Event()
    recorder = Recorder(memory.write, spill, batch_size=100, flush_interval_s=0.01)
    await recorder.start()
    rows = [make_row() for _ in range(250)]
    for row in rows:
        recorder.submit(row)
    await asyncio.sleep(0.05)
    await recorder.stop(timeout=0.2)
    assert recorder.stats()["spilled"] == 250  # the batch stuck in write() too
    memory.gate.set()  # the hung write completes after all: replay must not store it twice
    memory.gate = None
    successor = Recorder(memory.write, spill, **FAST)
    await successor.start()
    await successor.flush()
    await successor.stop()
    assert set(memory.rows) == {row["id"] for row in rows}
    assert spill_files(spill) == []


async def test_stop_before_start_keeps_what_was_submitted(memory: MemoryStore, spill: Path) -> None:
    recorder = Recorder(memory.write, spill, **FAST)
    rows = [make_row() for _ in range(5)]
    for row in rows:
        recorder.submit(row)
    await recorder.stop()
    successor = Recorder(memory.write, spill, **FAST)
    await successor.start()
    await successor.flush()
    await successor.stop()
    assert set(memory.rows) == {row["id"] for row in rows}


async def test_bad_rows_are_set_aside_and_the_rest_stored(
    memory: MemoryStore, spill: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(memory.write, spill, batch_size=64, flush_interval_s=0.01)
    await recorder.start()
    rows = [make_row() for _ in range(64)]
    rows[37]["model"] = "poison"
    for row in rows:
        recorder.submit(row)
    await recorder.flush()
    stats = recorder.stats()
    await recorder.stop()
    assert set(memory.rows) == {row["id"] for row in rows} - {rows[37]["id"]}
    assert stats["rejected"] == 1 and stats["store_ok"] is True and stats["spilled"] == 0
    assert orjson.loads(rejected_file(spill))["id"] == rows[37]["id"]
    assert memory.calls <= 2 * 6 + 1  # bisected, not retried row by row
    assert "rejected" in caplog.text


async def test_prepare_runs_in_slices_that_leave_the_loop_free(memory: MemoryStore, spill: Path) -> None:
    def slow_prepare(item: int) -> dict[str, Any]:
        end = time.perf_counter() + 0.0003
        while time.perf_counter() < end:
            pass
        return make_row()

    recorder = Recorder(memory.write, spill, prepare=slow_prepare, batch_size=500, flush_interval_s=0.01)
    await recorder.start()
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    for i in range(1_000):  # 0.3 s of prepare in all
        recorder.submit(i)
    await recorder.flush()
    done.set()
    await tick
    await recorder.stop()
    assert len(memory.rows) == 1_000
    assert max(gaps) < 0.05  # unsliced, one batch would hold the loop for 0.15 s


async def test_spill_format_is_json_lines_with_exact_types(memory: MemoryStore, spill: Path) -> None:
    memory.down = True
    recorder = Recorder(memory.write, spill, **FAST)
    await recorder.start()
    row = make_row(cost_usd=Decimal("12345678.9012345678"))
    recorder.submit(row)
    await recorder.flush()
    await recorder.stop()
    (path,) = spill_files(spill)  # flush() tried to replay it: it may carry our (released) claim
    assert re.fullmatch(rf"spill-{os.getpid()}-[0-9a-f]{{12}}\.jsonl(\.replaying-{os.getpid()})?", path.name)
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    line = json.loads(path.read_text())
    assert line["cost_usd"] == "12345678.9012345678"
    assert datetime.fromisoformat(line["created_at"]) == row["created_at"]
    assert line["created_at"].endswith("+00:00")


async def test_stats_and_lifecycle_errors(memory: MemoryStore, spill: Path) -> None:
    recorder = Recorder(memory.write, spill, **FAST)
    with pytest.raises(RuntimeError):
        await recorder.flush()
    await recorder.start()
    with pytest.raises(RuntimeError):
        await recorder.start()
    assert set(recorder.stats()) >= {
        "queued",
        "written",
        "spilled",
        "replayed",
        "spill_files",
        "spill_bytes",
        "last_error",
        "store_ok",
    }
    await recorder.stop()
    await recorder.stop()  # twice is fine
    recorder.submit(make_row())  # after stop: straight to a spill file, not lost
    assert len(spill_files(spill)) == 1


_CHILD = """
import asyncio, functools, json, sys
from pathlib import Path
from llmgate.store.db import create_engine_for
from llmgate.store.records import insert_records
from llmgate.recording.recorder import Recorder

async def main() -> None:
    engine = create_engine_for(sys.argv[1])
    recorder = Recorder(functools.partial(insert_records, engine), Path(sys.argv[2]), batch_size=40)
    print("ready", flush=True)
    sys.stdin.readline()  # start together, so that both contend for the files
    await recorder.start()
    await recorder.flush()
    await recorder.stop()
    engine.dispose()
    print(json.dumps(recorder.stats()))

asyncio.run(main())
"""


def test_two_processes_share_one_spill_directory(tmp_path: Path, spill: Path) -> None:
    """Workers or replicas on one host: each file is replayed by exactly one process (SQLite, as
    the claims do not depend on the database)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    check = create_engine_for(url)
    upgrade(check)
    spill.mkdir()
    rows = [make_row() for _ in range(40 * 100)]
    for i in range(40):
        write_spill_file(spill / f"spill-{70000 + i}-{i:012x}.jsonl", rows[i * 100 : (i + 1) * 100])
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, url, str(spill)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        stats = [json.loads(child.communicate(timeout=60)[0]) for child in children]
        assert all(child.returncode == 0 for child in children)
        assert sum(s["replayed"] for s in stats) == len(rows)  # each file replayed by exactly one
        assert all(s["replayed"] > 0 for s in stats)  # and they did contend for them
        assert sorted(stored_ids(check)) == sorted(row["id"] for row in rows)
        assert spill_files(spill) == []
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
        check.dispose()
