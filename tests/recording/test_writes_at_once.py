"""The recorder writing several batches at once (``writes_at_once``): they may finish in any order,
but nothing is confirmed past the oldest one still being written, a stop spills every batch in
flight, and one at a time stays the default."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from llmgate.recording.recorder import Recorder
from recording.test_recorder import FAST, MemoryStore, make_row, spill_files


class GatedStore:
    """A store whose every write waits until the test opens its own gate (by the write's number)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.gates: dict[int, threading.Event] = {}
        self.started: list[int] = []
        self._lock = threading.Lock()

    def write(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            number = len(self.started)
            self.started.append(number)
            gate = self.gates.setdefault(number, threading.Event())
        gate.wait(10)
        with self._lock:
            for row in rows:
                self.rows.setdefault(row["id"], row)

    def open(self, number: int) -> None:
        with self._lock:
            self.gates.setdefault(number, threading.Event()).set()


async def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_batches_finish_in_any_order_and_are_confirmed_in_order(tmp_path: Path) -> None:
    store = GatedStore()
    recorder = Recorder(
        store.write, tmp_path / "spill", batch_size=10, flush_interval_s=0.01, writes_at_once=3
    )
    await recorder.start()
    for _ in range(40):
        recorder.submit(make_row())
    await until(lambda: len(store.started) == 3)  # three batches in flight, the fourth waits its turn
    await asyncio.sleep(0.05)
    assert len(store.started) == 3 and recorder.confirmed_below() == 0

    store.open(2)  # the newest finishes first: the oldest is still only in memory
    store.open(1)
    await until(lambda: len(store.started) == 4 and len(store.rows) == 20)  # the fourth went
    assert recorder.confirmed_below() == 0
    store.open(0)
    await until(lambda: recorder.confirmed_below() == 30)  # the fourth still waits at its gate
    assert recorder.processed() == 30
    store.open(3)
    await recorder.flush()
    assert recorder.confirmed_below() == 40 and len(store.rows) == 40
    await recorder.stop()
    assert recorder.stats()["written"] == 40


async def test_stop_spills_every_batch_in_flight(tmp_path: Path) -> None:
    store = GatedStore()
    spill = tmp_path / "spill"
    recorder = Recorder(store.write, spill, batch_size=100, flush_interval_s=0.01, writes_at_once=2)
    await recorder.start()
    rows = [make_row() for _ in range(250)]
    for row in rows:
        recorder.submit(row)
    await until(lambda: len(store.started) == 2)
    await recorder.stop(timeout=0.2)  # both writes hang: both batches, and the queued rest, spill
    assert recorder.stats()["spilled"] == 250 and recorder.processed() == 250
    assert spill_files(spill)
    for number in range(2):  # the hung writes complete after all: replay must not store them twice
        store.open(number)
    memory = MemoryStore()
    memory.rows = store.rows
    successor = Recorder(memory.write, spill, **FAST)
    await successor.start()
    await successor.flush()
    await successor.stop()
    assert set(memory.rows) == {row["id"] for row in rows} and len(memory.rows) == 250
    assert spill_files(spill) == []


async def test_one_batch_at_a_time_by_default(tmp_path: Path) -> None:
    busy, most, lock = [0], [0], threading.Lock()
    memory = MemoryStore()

    def write(rows: list[dict[str, Any]]) -> None:
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        try:
            threading.Event().wait(0.002)
            memory.write(rows)
        finally:
            with lock:
                busy[0] -= 1

    recorder = Recorder(write, tmp_path / "spill", batch_size=20, flush_interval_s=0.01)
    await recorder.start()
    for _ in range(400):
        recorder.submit(make_row())
    await recorder.flush()
    await recorder.stop()
    assert len(memory.rows) == 400 and most[0] == 1
