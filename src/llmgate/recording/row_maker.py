"""Items into rows for the recorder, and what happens to those that will not go.

``prepare`` turns an item (a ``CallRecord``) into its row. An item it fails on (a body nested
past the JSON encoder's depth, a value it trips on) is handed to ``salvage``, which makes the
degraded row (``degrade.py``: metadata kept, bodies replaced by a marker); without ``salvage``,
or when that fails too, the item is counted lost. A row the store refuses has its ``degrade``d
forms tried, lenient then strict. Every degraded row is counted and ``on_degraded`` is told (the
alert). Rows are prepared in slices of about a millisecond so the event loop is never held long.
Counters are shared with the recorder's spill thread, under a lock (they move only on failure).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("llmgate.recording.recorder")

Row = dict[str, Any]
Entry = tuple[int, Any]  # (ordinal, item)

#: How long ``prepare`` may hold the event loop before the writer yields.
SLICE_S = 0.001


class RowMaker:
    def __init__(
        self,
        prepare: Callable[[Any], Row] | None,
        salvage: Callable[[Any, str], Row] | None,
        degrade: Callable[[Row, str, bool], Row] | None,
        on_degraded: Callable[[str, str], None] | None,
    ) -> None:
        self._prepare = prepare
        self._salvage = salvage
        self._degrade = degrade
        self._on_degraded = on_degraded
        self._lock = threading.Lock()
        self._last_warning = 0.0
        self.prepare_failed = self.degraded = self.lost = 0

    async def sliced(self, entries: list[Entry]) -> list[Row]:
        """The rows of ``entries``, yielding to the event loop every ``SLICE_S``."""
        rows: list[Row] = []
        slice_end = time.perf_counter() + SLICE_S
        for _, item in entries:
            row = self.one(item)
            if row is not None:
                rows.append(row)
            if time.perf_counter() >= slice_end:
                await asyncio.sleep(0)
                slice_end = time.perf_counter() + SLICE_S
        return rows

    def all(self, entries: list[Entry]) -> list[Row]:
        """The rows of ``entries`` at once (the spill thread, and shutdown)."""
        return [row for _, item in entries if (row := self.one(item)) is not None]

    def one(self, item: Any) -> Row | None:
        if self._prepare is None:
            return item  # type: ignore[no-any-return]
        try:
            return self._prepare(item)
        except Exception as exc:
            problem = exc
        log.debug("recorder: prepare failed", exc_info=problem)
        reason = f"could not be made into a row ({type(problem).__name__}: {str(problem)[:120]})"
        with self._lock:
            self.prepare_failed += 1
        if self._salvage is not None:
            try:
                row = self._salvage(item, reason)
            except Exception:
                log.debug("recorder: salvage failed", exc_info=True)
            else:
                self.note_degraded(row, reason)
                return row
        self.count_lost(1)
        self._warn("recorder: could not turn a record into a row (%s); it is lost", type(problem).__name__)
        return None

    def degraded_forms(self, row: Row, reason: str) -> Iterator[Row]:
        """The forms to try for a row the store refused: lenient, then strict (none without ``degrade``)."""
        if self._degrade is None:
            return
        for strict in (False, True):
            try:
                yield self._degrade(row, reason, strict)
            except Exception:
                log.debug("recorder: degrading a row failed", exc_info=True)

    def note_degraded(self, row: Row, reason: str) -> None:
        with self._lock:
            self.degraded += 1
        self._warn("recorder: a record was stored degraded: %s", reason)
        if self._on_degraded is not None:
            try:
                self._on_degraded(str(row.get("id")), reason)
            except Exception:
                log.exception("recorder: reporting a degraded record failed")

    def count_lost(self, count: int) -> None:
        with self._lock:
            self.lost += count

    def _warn(self, message: str, *args: Any) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last_warning <= 60:  # at most one line a minute; stats() counts them all
                return
            self._last_warning = now
        log.warning(message, *args)
