"""Where a batch of rows goes: the store, else a spill file; a row the store refuses, degraded or set aside.

Part of ``Recorder`` (``recorder.py``), shared by its write loop and its replay rounds (``replay.py``):
``_store`` writes rows in a worker thread and tells an outage (the store is down: every row comes
back, to be spilled) from bad rows (the batch is bisected until each bad row stands alone, then
stored in degraded form, or kept in ``rejected-*.jsonl``). ``_spill_rows`` appends to the spill file
on the spill thread; when the disk fails too the rows are held in memory (``state.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from llmgate.errors import StoreError
from llmgate.recording.row_maker import RowMaker
from llmgate.recording.spill import Row, SpillDir
from llmgate.recording.state import RecorderState

log = logging.getLogger("llmgate.recording.recorder")

_T = TypeVar("_T")


class StoreOrSpill:
    """The write half of ``Recorder``; every attribute and method below is the recorder's."""

    _write: Callable[[list[Row]], object]
    _rows: RowMaker
    _spill: SpillDir
    _status: RecorderState
    _pool: ThreadPoolExecutor
    _spilled_lately: bool
    _written: int
    _replayed: int
    _spilled: int
    _rejected: int
    _lost: int

    async def _store(self, rows: list[Row], *, replay: bool) -> list[Row]:
        """Write ``rows``; returns those that could not be stored because the store is down."""
        try:
            await asyncio.to_thread(self._write, rows)
        except Exception as exc:
            if is_outage(exc):
                self._status.store_down(describe_error(exc))
                return rows
            self._status.last_error = describe_error(exc)
            if len(rows) == 1:
                return await self._store_degraded(rows[0], replay=replay)
            middle = len(rows) // 2
            rest = await self._store(rows[:middle], replay=replay)
            if rest:
                return rest + rows[middle:]
            return await self._store(rows[middle:], replay=replay)
        self._stored(len(rows), replay=replay)
        return []

    def _stored(self, count: int, *, replay: bool) -> None:
        if replay:
            self._replayed += count
        else:
            self._written += count
        self._status.store_up()  # a write that went in says the store is back (a no-op while up)

    async def _store_degraded(self, row: Row, *, replay: bool) -> list[Row]:
        """Store the one row the store refused in degraded form; [row] back if the store went down."""
        reason = f"refused by the store ({self._status.last_error})"
        for degraded in self._rows.degraded_forms(row, reason):
            try:
                await asyncio.to_thread(self._write, [degraded])
            except Exception as again:
                if is_outage(again):
                    self._status.store_down(describe_error(again))
                    return [degraded]  # spilled and replayed degraded: it went bad once already
                continue
            self._stored(1, replay=replay)
            self._rows.note_degraded(degraded, reason)
            return []
        await self._reject([row])
        return []

    async def _spill_rows(self, rows: list[Row], ordinal: int) -> None:
        if not rows:
            return
        try:
            await self._run_in_spill_thread(self._spill.append, rows)
        except OSError as exc:
            self._status.hold(ordinal, rows, exc)
            return
        self._spilled += len(rows)
        self._spilled_lately = True
        self._status.spilled()

    async def _reject(self, rows: list[Row]) -> None:
        try:
            name = await self._run_in_spill_thread(self._spill.reject, rows)
        except OSError as exc:
            log.error("recorder: the store rejected a record and it could not be kept on disk: %s", exc)
            self._lost += len(rows)
            return
        self._rejected += len(rows)
        log.warning("recorder: the store rejected a record (%s); kept in %s", self._status.last_error, name)

    async def _run_in_spill_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)


# The store (and SQLAlchemy) are imported when first needed: a gateway whose records go to the
# writer process never needs them, and starts faster and smaller without them.


def rehydrate_row(row: Row) -> Row:
    # SQLAlchemy (the store): off a gateway whose records go to the writer process
    from llmgate.store.records import rehydrate_row as rehydrate

    return rehydrate(row)


def describe_error(exc: BaseException) -> str:
    # SQLAlchemy (the store): off a gateway whose records go to the writer process
    from llmgate.store.db import describe_error as describe

    return describe(exc)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the store is unavailable (rather than that some rows are bad)."""
    # SQLAlchemy: off a gateway whose records go to the writer process
    from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, IntegrityError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, IntegrityError | DataError):
        return False
    return isinstance(exc, StoreError | OSError | DBAPIError | DisconnectionError | PoolTimeout)
