"""The recorder: takes records off the request path and into the store, losing none and storing none twice.

``submit`` (on the event loop, O(1), never blocks or raises) appends to a bounded in-memory queue.
A background task takes batches (``batch_size`` items, or whatever came within
``flush_interval_s`` of the first), turns items into rows (``row_maker.py``: in slices of about
a millisecond; an item ``prepare`` fails on is ``salvage``d into a degraded row, see
``degrade.py``) and hands each batch to ``write`` in a worker thread (``store_or_spill.py``).
Up to ``writes_at_once`` batches are written at a time (each in its own thread and transaction,
the next batch's rows made meanwhile); they may finish in any order, and ``confirmed_below``
stops at the oldest one not finished.
Nothing runs while nothing is queued: the writer waits on an event, not a timer. ``write`` raises
on failure: ``StoreError`` (or ``OSError``, or a SQLAlchemy connection error) means the store is
down; anything else means some rows are bad, and the batch is bisected until the bad rows stand
alone. A row that stands alone is stored degraded when ``degrade`` is given (counted,
``on_degraded`` told), else set aside in ``rejected-*.jsonl`` (kept, never retried, logged).

When the store is down the batch goes to a spill file (``spill.py``: one JSON row per line,
fsynced after every append, safe to share between processes on one host); so do later batches,
without trying the store first. A second task (``replay.py``) replays spill files, the
first replayed chunk being the probe of the store. One WARNING when the store goes down, one INFO
when it is back, nothing per record. When the queue is full, items go straight to the spill file
through the spill thread (the last resort; still nothing dropped).

When the spill directory fails too, rows are held in memory (``state.py``) and retried;
the recorder is then *unrecordable* (``unrecordable``, ``stats()``), says so in one ERROR line, and
``confirmed_below()`` stops short of what it holds, so a writer process never confirms a record
that is only in its memory. What is still held when the recorder stops is lost (counted, ERROR),
unless ``stop(others_hold=True)``: the gateway still holds every record its writer did not confirm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from llmgate.errors import ConfigError
from llmgate.recording.replay import Replayer
from llmgate.recording.row_maker import Entry, RowMaker
from llmgate.recording.spill import Row, SpillDir
from llmgate.recording.state import RecorderState
from llmgate.recording.store_or_spill import rehydrate_row

log = logging.getLogger(__name__)


#: How often spill files are looked for when nothing says there are any (other processes' leftovers).
IDLE_REPLAY_S = 30.0


class Recorder(Replayer):
    """Bounded queue → batch writer → spill file → replay. See the module docstring."""

    def __init__(
        self,
        write: Callable[[list[Row]], object],
        spill_dir: Path,
        *,
        prepare: Callable[[Any], Row] | None = None,
        rehydrate: Callable[[Row], Row] | None = None,
        salvage: Callable[[Any, str], Row] | None = None,
        degrade: Callable[[Row, str, bool], Row] | None = None,
        on_degraded: Callable[[str, str], None] | None = None,
        probe: Callable[[], object] | None = None,
        queue_size: int = 50_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.25,
        retry_interval_s: float = 2.0,
        idle_replay_s: float = IDLE_REPLAY_S,
        writes_at_once: int = 1,
    ) -> None:
        if queue_size < 1 or batch_size < 1 or writes_at_once < 1:
            raise ValueError("queue_size, batch_size and writes_at_once must be >= 1")
        if flush_interval_s <= 0 or retry_interval_s <= 0:
            raise ValueError("intervals must be > 0")
        self._write = write
        self._rows = RowMaker(prepare, salvage, degrade, on_degraded)
        self._probe = probe
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._writes_at_once = writes_at_once
        self._flush_interval = flush_interval_s
        self._retry_interval = retry_interval_s
        self._idle_replay = max(idle_replay_s, retry_interval_s)
        self._spill = SpillDir(Path(spill_dir), rehydrate or rehydrate_row)
        self._status = RecorderState(self._spill.path)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmgate-spill")
        self._pending: deque[Entry] = deque()
        # the batches the writer holds, oldest first, each until it is stored or spilled
        self._inflight: list[list[Entry]] = []
        self._overflow: deque[Entry] = deque()  # queue full: for the spill thread
        self._overflow_scheduled = False
        self._t_floor: int | None = None  # lowest ordinal the spill thread is working on
        self._wakeup = asyncio.Event()
        self._maintain_now = asyncio.Event()
        self._maintain_waiters: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._maintainer: asyncio.Task[None] | None = None
        self._state = "new"  # new | running | stopping | stopped
        self._flushing = 0
        self._spilled_lately = False  # our own spill files wait to be replayed
        self._idle_waiting = False  # the replayer waits the idle interval
        self._status.watchers.append(self._wake_if_busy)
        # Counters; the spill thread has its own (t_*), so no counter is written by two threads.
        self._submitted = 0
        self._done = self._written = self._spilled = self._replayed = self._rejected = self._lost = 0
        self._t_done = self._t_spilled = 0

    @property
    def unrecordable(self) -> bool:
        """Neither the store nor the spill directory takes records (O(1): read per request)."""
        return self._status.unrecordable

    # --- the request path ---------------------------------------------------------------------

    def submit(self, item: Any) -> None:
        """Queue ``item`` for recording. From the event loop; O(1); never blocks, never raises."""
        try:
            entry = (self._submitted, item)
            self._submitted += 1
            if self._state == "stopped":  # too late for the writer: straight to disk
                self._spill_overflow_now([entry], thread=False)
                self._t_done += 1
            elif len(self._pending) < self._queue_size and self._state != "stopping":
                self._pending.append(entry)
                queued = len(self._pending)
                if queued == 1 or queued >= self._batch_size:  # the writer waits for the first
                    self._wakeup.set()
            else:
                self._overflow.append(entry)
                if not self._overflow_scheduled:
                    self._overflow_scheduled = True
                    self._pool.submit(self._drain_overflow)
        except Exception:  # never into the request; say so loudly instead
            log.exception("recorder: could not queue a record")

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the batch writer and the replayer, which first replays what ``spill_dir`` holds."""
        if self._state != "new":
            raise RuntimeError("Recorder.start() may be called once")
        try:
            await asyncio.to_thread(self._spill.ensure_dir)
        except OSError as exc:
            raise ConfigError(f"spill directory {self._spill.path} is not usable: {exc}") from exc
        self._status.loop = asyncio.get_running_loop()
        self._state = "running"
        self._writer = asyncio.create_task(self._write_loop(), name="llmgate-recorder-writer")
        self._maintainer = asyncio.create_task(self._replay_loop(), name="llmgate-recorder-replayer")

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the event loop) when records settle or the recorder's state changes."""
        self._status.watchers.append(callback)

    async def flush(self) -> None:
        """Wait until everything submitted so far is written, spilled or held, then for one replay attempt.

        After ``flush()`` every record submitted before it is in the store if the store answers,
        on disk if not, and held in memory (``stats()["held"]``) if the disk fails too.
        """
        if self._state != "running" or self._writer is None:
            raise RuntimeError("the recorder is not running")
        target = self._submitted
        self._flushing += 1
        self._wakeup.set()
        try:
            delay = 0.001
            while self._done + self._t_done < target:
                if self._writer.done():
                    raise RuntimeError("the recorder's writer stopped")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.02)
        finally:
            self._flushing -= 1
        await self._replay_soon()

    async def stop(self, timeout: float = 10.0, *, others_hold: bool = False) -> None:
        """Drain the queue into the store or the spill file; after ``timeout`` s, spill what is left.

        What can be neither stored nor spilled is lost (counted, logged as an ERROR), unless
        ``others_hold``: the caller still holds every record this recorder did not confirm.
        """
        if self._state in ("stopping", "stopped"):
            return
        started = self._state == "running"
        self._state = "stopping"  # from now on submit() sends items to the spill thread
        self._wakeup.set()
        self._maintain_now.set()
        deadline = time.monotonic() + timeout
        if started:
            assert self._writer is not None and self._maintainer is not None
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), timeout)
            except TimeoutError:
                log.warning("recorder: the store did not take the last records in %.0f s; spilling", timeout)
                await _cancel(self._writer)
            try:
                await asyncio.wait_for(
                    asyncio.shield(self._maintainer), max(0.1, deadline - time.monotonic())
                )
            except TimeoutError:
                await _cancel(self._maintainer)
            for waiter in self._maintain_waiters:
                if not waiter.done():
                    waiter.set_result(None)
        # What the writer did not finish goes to disk. A batch cut off mid-write may be stored as
        # well; replay is idempotent, so that costs nothing twice.
        leftover = [*(entry for batch in self._inflight for entry in batch), *self._pending]
        self._inflight = []
        self._pending.clear()
        rows = await self._run_in_spill_thread(self._rows.all, leftover)
        await self._spill_rows(rows, leftover[0][0] if leftover else self._submitted)
        await self._retry_held(probe=False)  # to the store if it is up, else to disk, else held
        self._done += len(leftover)
        await self._run_in_spill_thread(self._drain_overflow)
        self._state = "stopped"
        await asyncio.to_thread(self._close_spill)
        unkept = self._status.held
        if unkept and others_hold:
            log.warning("recorder: %d records neither stored nor spilled are left to the gateway", unkept)
        elif unkept:
            self._lost += unkept
            log.error("recorder: %d records could be neither stored nor spilled and are lost", unkept)

    def submitted(self) -> int:
        """How many items ``submit`` has taken so far."""
        return self._submitted

    def processed(self) -> int:
        """How many submitted items are settled: stored, spilled, held, rejected or lost."""
        return self._done + self._t_done

    def confirmed_below(self) -> int:
        """Every item submitted before the first ``n`` is stored, fsynced to disk, or settled for good
        (rejected to disk, or lost beyond repair): ``n``, which stops at the first one still only in
        memory (queued, being written, or held because neither store nor disk took it)."""
        floor = self._submitted
        if self._pending:
            floor = self._pending[0][0]
        if self._inflight:
            floor = min(floor, self._inflight[0][0][0])
        with contextlib.suppress(IndexError):  # the spill thread may empty it meanwhile
            floor = min(floor, self._overflow[0][0])
        busy = self._t_floor
        if busy is not None:
            floor = min(floor, busy)
        held = self._status.lowest()
        return floor if held is None else min(floor, held)

    def stats(self) -> dict[str, Any]:
        """Counters for health checks and metrics (``last_error`` carries no SQL, values or secrets)."""
        files, size = self._spill.usage()
        status, rows = self._status, self._rows
        return {
            "queued": self._submitted - self._done - self._t_done,
            "written": self._written,
            "spilled": self._spilled + self._t_spilled,
            "replayed": self._replayed,
            "rejected": self._rejected,
            "held": status.held,
            "at_risk": status.held,
            "degraded": rows.degraded + self._spill.degraded,
            "lost": self._lost + rows.lost,
            "prepare_failed": rows.prepare_failed,
            "spill_files": files,
            "spill_bytes": size,
            "last_error": status.last_error,
            "spill_error": status.spill_error,
            "store_ok": status.store_ok,
            "spill_ok": not status.spill_failing,
            "unrecordable": status.unrecordable,
        }

    # --- the writer task ----------------------------------------------------------------------

    async def _write_loop(self) -> None:
        writing: set[asyncio.Task[None]] = set()  # batches being written, at most writes_at_once
        try:
            while True:
                if self._state == "running" and not self._pending:
                    await self._wakeup.wait()  # idle: no timer runs while nothing is queued
                self._wakeup.clear()
                timed_out = False
                if self._state == "running" and len(self._pending) < self._batch_size and not self._flushing:
                    try:  # let a batch gather, for at most flush_interval_s
                        async with asyncio.timeout(self._flush_interval):
                            await self._wakeup.wait()
                    except TimeoutError:
                        timed_out = True
                    self._wakeup.clear()
                drain_all = timed_out or self._flushing > 0 or self._state != "running"
                if self._status.held:
                    await self._retry_held(probe=False)
                while len(self._pending) >= self._batch_size or (drain_all and self._pending):
                    while len(writing) >= self._writes_at_once:  # a batch's rows are made once one may go
                        _, writing = await asyncio.wait(writing, return_when=asyncio.FIRST_COMPLETED)
                    batch = self._next_batch()
                    rows = await self._rows.sliced(batch)
                    writing.add(asyncio.create_task(self._write_batch(batch, rows)))
                    if self._writes_at_once == 1:  # as ever: each batch written before the next is made
                        await asyncio.wait(writing)
                        writing.clear()
                if self._state != "running":
                    if writing:  # every batch in flight ends stored or spilled before we return
                        await asyncio.wait(writing)
                    return
        finally:  # cancelled by stop(): what is in flight stays in _inflight, for stop() to spill
            for task in writing:
                task.cancel()

    def _next_batch(self) -> list[Entry]:
        batch = [self._pending.popleft() for _ in range(min(self._batch_size, len(self._pending)))]
        self._inflight.append(batch)  # until it is written: a stop() that cancels us spills it
        return batch

    async def _write_batch(self, batch: list[Entry], rows: list[Row]) -> None:
        try:
            await self._store_or_spill(rows, batch[0][0])
        except Exception:  # a bug here must not stop the recorder or lose the batch
            log.exception("recorder: writing a batch failed unexpectedly; spilling it")
            await self._spill_rows(rows, batch[0][0])
        self._inflight = [held for held in self._inflight if held is not batch]
        self._done += len(batch)
        self._status.changed()

    async def _store_or_spill(self, rows: list[Row], ordinal: int) -> None:
        if not rows:
            return
        rest = await self._store(rows, replay=False) if self._status.store_ok else rows
        if rest:
            await self._spill_rows(rest, ordinal)

    # --- the queue-full path (spill thread) ---------------------------------------------------

    def _drain_overflow(self) -> None:
        self._overflow_scheduled = False
        while self._overflow:
            self._t_floor = self._overflow[0][0]  # before the entries leave the deque
            entries = [self._overflow.popleft() for _ in range(min(len(self._overflow), 5000))]
            try:
                self._spill_overflow_now(entries, thread=True)
            finally:
                self._t_done += len(entries)
                self._t_floor = None

    def _spill_overflow_now(self, entries: list[Entry], *, thread: bool) -> None:
        rows = self._rows.all(entries)
        try:
            self._spill.append(rows)
        except OSError as exc:
            self._status.hold(entries[0][0], rows, exc)
        else:
            self._t_spilled += len(rows)
            self._spilled_lately = True
            self._status.spilled()
        self._status.changed(thread=thread)

    # --- helpers ------------------------------------------------------------------------------

    def _close_spill(self) -> None:
        self._pool.shutdown(wait=True)
        self._spill.close()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
