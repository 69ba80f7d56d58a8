"""The recorder's second task: replaying spill files, retrying held rows, probing what is down.

Part of ``Recorder`` (``recorder.py``), kept apart because it is its own concept: getting records
that are on disk, or only in memory, back into the store. One round replays every spill file it
can claim (the first chunk doubles as the probe of a store that is down), retries the rows held
in memory (store first, then a spill file), and, when nothing else touched them this round, probes
a store marked down and a spill directory marked failing, so that a recorder with nothing to write
(a gateway refusing requests while neither can take records) still notices when one is back.

Rounds run every ``retry_interval_s`` while anything is on disk, held, or down; otherwise every
``idle_replay_s`` (for files other processes on the host left behind), and at once when
``flush()``, ``stop()`` or a change of state asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from llmgate.recording.spill import Claim, SpillDir
from llmgate.recording.state import RecorderState
from llmgate.recording.store_or_spill import StoreOrSpill, describe_error

log = logging.getLogger("llmgate.recording.recorder")


class Replayer(StoreOrSpill):
    """The replay half of ``Recorder``; every attribute and method below is the recorder's."""

    _spill: SpillDir
    _status: RecorderState
    _state: str
    _spilled_lately: bool
    _idle_waiting: bool
    _batch_size: int
    _retry_interval: float
    _idle_replay: float
    _rejected: int
    _probe: Callable[[], object] | None
    _maintain_now: asyncio.Event
    _maintain_waiters: list[asyncio.Future[None]]
    _maintainer: asyncio.Task[None] | None

    # --- the task -----------------------------------------------------------------------------

    async def _replay_soon(self) -> None:
        if self._maintainer is None or self._maintainer.done():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._maintain_waiters.append(waiter)
        self._maintain_now.set()
        await waiter

    def _busy(self) -> bool:
        status = self._status
        return not status.store_ok or bool(status.held) or status.spill_failing or self._spilled_lately

    def _wake_if_busy(self) -> None:
        """A watcher of the recorder's state: end an idle wait once there is something to replay."""
        if self._idle_waiting and self._busy():
            self._idle_waiting = False
            self._maintain_now.set()

    async def _replay_loop(self) -> None:
        first = True
        while True:
            if not first and not self._maintain_now.is_set():
                busy = self._busy()
                self._idle_waiting = not busy
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._retry_interval if busy else self._idle_replay):
                        await self._maintain_now.wait()
                self._idle_waiting = False
            first = False
            self._maintain_now.clear()
            waiters, self._maintain_waiters = self._maintain_waiters, []
            try:
                if self._state == "running":
                    await self._maintain()
            except Exception:
                log.exception("recorder: replaying spill files failed")
            finally:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                self._status.changed()
            if self._state != "running":
                return

    async def _maintain(self) -> None:
        status = self._status
        probed = await self._replay_all()
        if status.held:
            await self._retry_held(probe=True)
            probed = True
        if not status.store_ok and not probed and self._probe is not None:
            await self._probe_store()
        if status.spill_failing and not status.held:
            await self._probe_spill()

    async def _replay_all(self) -> bool:
        """Replay every claimable spill file; whether the store was tried."""
        tried = False
        while True:
            claim = await self._run_in_spill_thread(self._spill.claim_next)
            if claim is None:
                # Our own open file is locked by us: seal it (later spills start a new one) and retry.
                if await self._run_in_spill_thread(self._spill.seal):
                    continue
                break
            tried = True
            if not await self._replay(claim):
                return True  # the store is (still) down; the claim waits for the next round
        self._spilled_lately = False
        return tried

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

    async def _retry_held(self, *, probe: bool) -> None:
        """Rows held in memory: into the store (tried even when marked down if ``probe``), else to disk."""
        groups = self._status.take()
        try:
            while groups:
                ordinal, rows = groups[0]
                rest = await self._store(rows, replay=False) if probe or self._status.store_ok else rows
                if rest:
                    await self._spill_rows(rest, ordinal)  # held again if the disk still fails
                groups.pop(0)
                self._status.release(ordinal)
        finally:  # cancelled halfway (stop): what was not retried is held still
            for ordinal, rows in groups:
                self._status.release(ordinal, rows)

    async def _probe_store(self) -> None:
        assert self._probe is not None
        try:
            await asyncio.to_thread(self._probe)
        except Exception as exc:
            self._status.store_down(describe_error(exc))
            return
        self._status.store_up()

    async def _probe_spill(self) -> None:
        try:
            await self._run_in_spill_thread(self._spill.probe)
        except OSError as exc:
            self._status.spill_failed(exc)
            return
        self._status.spilled()
