"""The recorder: takes records off the request path and into the store, losing none and storing none twice.

``submit`` (on the event loop, O(1), never blocks or raises) appends to a bounded in-memory queue.
A background task takes batches (``batch_size`` items, or whatever came within
``flush_interval_s``), turns items into rows with ``prepare`` in slices of about a millisecond, and
hands each batch to ``write`` in a worker thread. ``write`` is synchronous and raises on failure:
``StoreError`` (or ``OSError``, or a SQLAlchemy connection error) means the store is down; anything
else means some rows are bad, and the batch is bisected until the bad rows stand alone, to be
set aside in ``rejected-*.jsonl`` (kept, never retried, logged as a warning).

When the store is down the batch goes to a spill file, ``spill_dir/spill-<pid>-<random>.jsonl``,
one JSON row per line, fsynced after every append; so do later batches, without trying the store
first. Every ``retry_interval_s`` a second task tries to replay spill files; the first replayed
chunk is the probe, and when it goes in the store is back. One WARNING when the store goes down,
one INFO when it is back, nothing per record. When the queue is full, items go straight to the
spill file through the spill thread (the last resort; still nothing dropped).

Spill files are shared safely by several processes on one host (gateway workers, replicas on one
volume). The writing process holds an ``flock`` on its open spill file; replaying means taking the
lock on a file nobody holds, renaming it to ``<name>.replaying-<pid>`` (the claim), inserting its rows
with the idempotent insert (``ON CONFLICT (id) DO NOTHING``) and deleting it only afterwards. A claim
left by a dead process has no lock holder and is claimed again, so a crash mid-replay costs a replay,
never a duplicate. The kernel drops locks with their process, which also makes this safe across pid
namespaces and pid reuse, where a pid alone is not. POSIX only (``fcntl``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from llmgate.errors import ConfigError, StoreError
from llmgate.telemetry.spill import Claim, Row, SpillDir

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: How long ``prepare`` may hold the event loop before the writer yields.
_SLICE_S = 0.001


class Recorder:
    """Bounded queue → batch writer → spill file → replay. See the module docstring."""

    def __init__(
        self,
        write: Callable[[list[Row]], object],
        spill_dir: Path,
        *,
        prepare: Callable[[Any], Row] | None = None,
        rehydrate: Callable[[Row], Row] | None = None,
        queue_size: int = 50_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.25,
        retry_interval_s: float = 2.0,
    ) -> None:
        if queue_size < 1 or batch_size < 1 or flush_interval_s <= 0 or retry_interval_s <= 0:
            raise ValueError("queue_size and batch_size must be >= 1, intervals > 0")
        self._write = write
        self._prepare = prepare
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._flush_interval = flush_interval_s
        self._retry_interval = retry_interval_s
        self._spill = SpillDir(Path(spill_dir), rehydrate or _rehydrate_row)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmgate-spill")
        self._pending: deque[Any] = deque()
        self._inflight: list[Any] = []  # the batch the writer holds, until it is stored or spilled
        self._overflow: deque[Any] = deque()  # queue full: for the spill thread
        self._overflow_scheduled = False
        self._held: deque[Row] = deque()  # neither written nor spilled (the disk failed too)
        self._wakeup = asyncio.Event()
        self._maintain_now = asyncio.Event()
        self._maintain_waiters: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._maintainer: asyncio.Task[None] | None = None
        self._state = "new"  # new | running | stopping | stopped
        self._flushing = 0
        self._store_ok = True
        self._last_error: str | None = None
        self._last_prepare_warning = 0.0
        self._spill_failing = False
        # Counters; the spill thread has its own (t_*), so no counter is written by two threads.
        self._submitted = 0
        self._done = self._written = self._spilled = self._replayed = self._rejected = 0
        self._prepare_failed = 0
        self._t_done = self._t_spilled = self._t_prepare_failed = 0

    # --- the request path ---------------------------------------------------------------------

    def submit(self, item: Any) -> None:
        """Queue ``item`` for recording. From the event loop; O(1); never blocks, never raises."""
        try:
            self._submitted += 1
            if self._state == "stopped":  # too late for the writer: straight to disk
                self._spill_overflow_now([item])
                self._t_done += 1
            elif len(self._pending) < self._queue_size and self._state != "stopping":
                self._pending.append(item)
                if len(self._pending) >= self._batch_size:
                    self._wakeup.set()
            else:
                self._overflow.append(item)
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
        self._state = "running"
        self._writer = asyncio.create_task(self._write_loop(), name="llmgate-recorder-writer")
        self._maintainer = asyncio.create_task(self._replay_loop(), name="llmgate-recorder-replayer")

    async def flush(self) -> None:
        """Wait until everything submitted so far is written or spilled, then for one replay attempt.

        After ``flush()`` every record submitted before it is in the store if the store answers,
        and on disk if not.
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

    async def stop(self, timeout: float = 10.0) -> None:
        """Drain the queue into the store or the spill file; after ``timeout`` s, spill what is left."""
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
        leftover = [*self._inflight, *self._pending]
        self._inflight = []
        self._pending.clear()
        rows = await self._run_in_spill_thread(self._prepare_all, leftover)
        await self._spill_rows(rows + self._take_held())
        self._done += len(leftover)
        await self._run_in_spill_thread(self._drain_overflow)
        self._state = "stopped"
        await asyncio.to_thread(self._close_spill)
        if self._held:
            log.error(
                "recorder: %d records could be neither stored nor spilled and are lost", len(self._held)
            )

    def submitted(self) -> int:
        """How many items ``submit`` has taken so far."""
        return self._submitted

    def processed(self) -> int:
        """How many submitted items are settled: stored, spilled, rejected or dropped as unpreparable."""
        return self._done + self._t_done

    def stats(self) -> dict[str, Any]:
        """Counters for health checks and metrics (``last_error`` carries no SQL, values or secrets)."""
        files, size = self._spill.usage()
        return {
            "queued": self._submitted - self._done - self._t_done,
            "written": self._written,
            "spilled": self._spilled + self._t_spilled,
            "replayed": self._replayed,
            "rejected": self._rejected,
            "held": len(self._held),
            "prepare_failed": self._prepare_failed + self._t_prepare_failed,
            "spill_files": files,
            "spill_bytes": size,
            "last_error": self._last_error,
            "store_ok": self._store_ok,
        }

    # --- the writer task ----------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            running = self._state == "running"
            timed_out = False
            if running and len(self._pending) < self._batch_size and not (self._flushing and self._pending):
                try:
                    async with asyncio.timeout(self._flush_interval):
                        await self._wakeup.wait()
                except TimeoutError:
                    timed_out = True
            self._wakeup.clear()
            drain_all = timed_out or self._flushing > 0 or self._state != "running"
            if self._held:
                await self._store_or_spill(self._take_held())
            while len(self._pending) >= self._batch_size or (drain_all and self._pending):
                batch = [self._pending.popleft() for _ in range(min(self._batch_size, len(self._pending)))]
                self._inflight = batch  # until done: a stop() that cancels us spills it
                rows = await self._prepare_sliced(batch)
                try:
                    await self._store_or_spill(rows)
                except Exception:  # a bug here must not stop the recorder or lose the batch
                    log.exception("recorder: writing a batch failed unexpectedly; spilling it")
                    await self._spill_rows(rows)
                self._inflight = []
                self._done += len(batch)
            if self._state != "running":
                return

    async def _store_or_spill(self, rows: list[Row]) -> None:
        if not rows:
            return
        rest = await self._store(rows, replay=False) if self._store_ok else rows
        if rest:
            await self._spill_rows(rest)

    async def _store(self, rows: list[Row], *, replay: bool) -> list[Row]:
        """Write ``rows``; returns those that could not be stored because the store is down."""
        try:
            await asyncio.to_thread(self._write, rows)
        except Exception as exc:
            if _is_outage(exc):
                self._mark_down(exc)
                return rows
            self._last_error = describe_error(exc)
            if len(rows) == 1:
                await self._reject(rows)
                return []
            middle = len(rows) // 2
            rest = await self._store(rows[:middle], replay=replay)
            if rest:
                return rest + rows[middle:]
            return await self._store(rows[middle:], replay=replay)
        if replay:
            self._replayed += len(rows)
            self._mark_up()  # the probe went in
        else:
            self._written += len(rows)
        return []

    async def _prepare_sliced(self, items: list[Any]) -> list[Row]:
        if self._prepare is None:
            return items
        rows: list[Row] = []
        slice_end = time.perf_counter() + _SLICE_S
        for item in items:
            row = self._prepare_one(item, thread=False)
            if row is not None:
                rows.append(row)
            if time.perf_counter() >= slice_end:
                await asyncio.sleep(0)
                slice_end = time.perf_counter() + _SLICE_S
        return rows

    def _prepare_one(self, item: Any, *, thread: bool) -> Row | None:
        if self._prepare is None:
            return item  # type: ignore[no-any-return]
        try:
            return self._prepare(item)
        except Exception:
            if thread:
                self._t_prepare_failed += 1
            else:
                self._prepare_failed += 1
            log.debug("recorder: prepare failed", exc_info=True)
            now = time.monotonic()
            if now - self._last_prepare_warning > 60:  # at most one line a minute; stats() counts them
                self._last_prepare_warning = now
                exc_name = type(sys.exc_info()[1]).__name__
                log.warning("recorder: could not turn a record into a row (%s); it is dropped", exc_name)
            return None

    def _prepare_all(self, items: list[Any]) -> list[Row]:
        return [row for item in items if (row := self._prepare_one(item, thread=True)) is not None]

    async def _spill_rows(self, rows: list[Row]) -> None:
        if not rows:
            return
        try:
            await self._run_in_spill_thread(self._spill.append, rows)
        except OSError as exc:
            self._held.extend(rows)
            if not self._spill_failing:
                self._spill_failing = True
                log.error("recorder: cannot write the spill file (%s); holding records in memory", exc)
            return
        self._spill_failing = False
        self._spilled += len(rows)

    async def _reject(self, rows: list[Row]) -> None:
        try:
            name = await self._run_in_spill_thread(self._spill.reject, rows)
        except OSError as exc:
            log.error("recorder: the store rejected a record and it could not be kept on disk: %s", exc)
            return
        self._rejected += len(rows)
        log.warning("recorder: the store rejected a record (%s); kept in %s", self._last_error, name)

    def _take_held(self) -> list[Row]:
        rows = list(self._held)
        self._held.clear()
        return rows

    # --- the queue-full path (spill thread) ---------------------------------------------------

    def _drain_overflow(self) -> None:
        self._overflow_scheduled = False
        while self._overflow:
            items = [self._overflow.popleft() for _ in range(min(len(self._overflow), 5000))]
            try:
                self._spill_overflow_now(items)
            finally:
                self._t_done += len(items)

    def _spill_overflow_now(self, items: list[Any]) -> None:
        rows = self._prepare_all(items)
        try:
            self._spill.append(rows)
        except OSError as exc:
            log.error("recorder: cannot write the spill file (%s); holding records in memory", exc)
            self._held.extend(rows)
            return
        self._t_spilled += len(rows)

    # --- the replay task ----------------------------------------------------------------------

    async def _replay_soon(self) -> None:
        if self._maintainer is None or self._maintainer.done():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._maintain_waiters.append(waiter)
        self._maintain_now.set()
        await waiter

    async def _replay_loop(self) -> None:
        first = True
        while True:
            if not first and not self._maintain_now.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._retry_interval):
                        await self._maintain_now.wait()
            first = False
            self._maintain_now.clear()
            waiters, self._maintain_waiters = self._maintain_waiters, []
            try:
                if self._state == "running":
                    await self._replay_all()
            except Exception:
                log.exception("recorder: replaying spill files failed")
            finally:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
            if self._state != "running":
                return

    async def _replay_all(self) -> None:
        """Replay every claimable spill file; the first chunk doubles as the probe of a down store."""
        while True:
            claim = await self._run_in_spill_thread(self._spill.claim_next)
            if claim is None:
                # Our own open file is locked by us: seal it (later spills start a new one) and retry.
                if await self._run_in_spill_thread(self._spill.seal):
                    continue
                break
            if not await self._replay(claim):
                return  # the store is (still) down; the claim waits for the next round
        # Only a write that went in says the store is back: with nothing to replay it stays down
        # (its next spill is the next probe), unless rows the disk would not take are waiting.
        if not self._store_ok and self._held:
            rows = self._take_held()
            self._held.extend(await self._store(rows, replay=True))

    async def _replay(self, claim: Claim) -> bool:
        try:
            while True:
                rows, bad_lines = await self._run_in_spill_thread(claim.read, self._batch_size)
                if bad_lines:
                    await self._run_in_spill_thread(self._spill.reject_lines, bad_lines)
                    self._rejected += len(bad_lines)
                    log.warning("recorder: %d unreadable lines in %s set aside", len(bad_lines), claim.path)
                if not rows and not bad_lines:
                    break
                if rows and await self._store(rows, replay=True):
                    return False
            await self._run_in_spill_thread(claim.finish)
            return True
        finally:
            await self._run_in_spill_thread(claim.release)

    def _mark_up(self) -> None:
        if not self._store_ok:
            self._store_ok = True
            log.info("recorder: the store is back; replaying spilled records")

    def _mark_down(self, exc: BaseException) -> None:
        self._last_error = describe_error(exc)
        if self._store_ok:
            self._store_ok = False
            log.warning(
                "recorder: the store is unavailable (%s); spilling records to %s until it is back",
                self._last_error,
                self._spill.path,
            )

    # --- helpers ------------------------------------------------------------------------------

    async def _run_in_spill_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _close_spill(self) -> None:
        self._pool.shutdown(wait=True)
        self._spill.close()


# The store (and SQLAlchemy) are imported when first needed: a gateway whose records go to the
# writer process never needs them, and starts faster and smaller without them.


def _rehydrate_row(row: Row) -> Row:
    from llmgate.store.records import rehydrate_row

    return rehydrate_row(row)


def describe_error(exc: BaseException) -> str:
    from llmgate.store.db import describe_error as describe

    return describe(exc)


def _is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the store is unavailable (rather than that some rows are bad)."""
    from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, IntegrityError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, IntegrityError | DataError):
        return False
    return isinstance(exc, StoreError | OSError | DBAPIError | DisconnectionError | PoolTimeout)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
