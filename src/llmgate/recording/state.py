"""Where the recorder's records can go right now, and what it holds only in memory meanwhile.

``RecorderState`` keeps: whether the store takes writes (and the last error if not), whether the
spill directory takes files (and why not), and the rows that neither took, held in memory and
retried. With both failing the recorder is *unrecordable*: nothing it takes can be kept until one
is back. Each transition is logged once (a WARNING when the store goes down, an ERROR when records
become unrecordable, INFO when either is back), never per record. Watchers are told on the event
loop when the recorder has finished a batch or a replay round (``changed``), never halfway
through one: the writer process answers the gateway then, rather than on a timer.

Held rows are grouped under the lowest ordinal (submission number) of the batch they came from,
so ``lowest()`` bounds ``Recorder.confirmed_below()``: a record only in memory is never confirmed,
and a writer process never acknowledges one to the gateway. Thread-safe: the recorder's spill
thread holds rows too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("llmgate.recording.recorder")

Row = dict[str, Any]


class RecorderState:
    def __init__(self, spill_path: Path) -> None:
        self._spill_path = spill_path
        self._lock = threading.Lock()
        self._groups: list[tuple[int, list[Row]]] = []
        self._retrying: list[int] = []  # ordinals of groups taken for a retry, until it is over
        self.held = 0  # rows held in memory
        self.store_ok = True
        self.last_error: str | None = None
        self.spill_failing = False
        self.spill_error: str | None = None
        self.unrecordable = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.watchers: list[Callable[[], None]] = []

    # --- the store ----------------------------------------------------------------------------

    def store_down(self, error: str) -> None:
        self.last_error = error
        if self.store_ok:
            self.store_ok = False
            log.warning(
                "recorder: the store is unavailable (%s); spilling records to %s until it is back",
                error,
                self._spill_path,
            )
            self._recompute()

    def store_up(self) -> None:
        if not self.store_ok:
            self.store_ok = True
            log.info("recorder: the store is back; replaying spilled records")
            self._recompute()

    # --- the spill directory and held rows ----------------------------------------------------

    def hold(self, ordinal: int, rows: list[Row], exc: OSError) -> None:
        """Keep ``rows`` in memory (their batch's lowest ordinal is ``ordinal``): no spill file took them."""
        with self._lock:
            self._groups.append((ordinal, rows))
            self.held += len(rows)
            self.spill_error = describe_os_error(exc)
            started = not self.spill_failing
            self.spill_failing = True
        if started:
            log.error(
                "recorder: cannot write the spill file (%s); holding records in memory", self.spill_error
            )
            self._recompute()

    def spill_failed(self, exc: OSError) -> None:
        self.spill_error = describe_os_error(exc)

    def spilled(self) -> None:
        """A spill file took rows."""
        with self._lock:
            recovered = self.spill_failing
            self.spill_failing, self.spill_error = False, None
        if recovered:
            log.info("recorder: the spill directory takes records again")
            self._recompute()

    def take(self) -> list[tuple[int, list[Row]]]:
        """Everything held, for a retry: each group still counts as held (``lowest``) until the
        caller ``release``s it, having stored it, spilled it or held it again."""
        with self._lock:
            groups, self._groups = self._groups, []
            self._retrying += [ordinal for ordinal, _ in groups]
            self.held = 0
        return groups

    def release(self, ordinal: int, rows: list[Row] | None = None) -> None:
        """A retry of the group ``ordinal`` is over; ``rows``: it did not finish, keep holding them."""
        with self._lock:
            self._retrying.remove(ordinal)
            if rows is not None:
                self._groups.append((ordinal, rows))
                self.held += len(rows)

    def lowest(self) -> int | None:
        """The lowest ordinal held (or being retried), or ``None``."""
        with self._lock:
            return min([*(ordinal for ordinal, _ in self._groups), *self._retrying], default=None)

    # --- transitions --------------------------------------------------------------------------

    def _recompute(self) -> None:
        with self._lock:
            unrecordable = not self.store_ok and self.spill_failing
            if unrecordable == self.unrecordable:
                return
            self.unrecordable = unrecordable
        if unrecordable:
            log.error(
                "recorder: records can be neither stored (%s) nor spilled (%s); %d are held in "
                "memory only until one of them is back",
                self.last_error,
                self.spill_error,
                self.held,
            )
        else:
            log.info("recorder: records can be kept again (%s)", "store" if self.store_ok else "spill")

    def changed(self, *, thread: bool = False) -> None:
        """A batch or a replay round is over: tell the watchers (on the event loop)."""
        if thread:
            loop = self.loop
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self.changed)
            return
        for callback in self.watchers:
            try:
                callback()
            except Exception:
                log.exception("recorder: a watcher failed")


def describe_os_error(exc: OSError) -> str:
    """``PermissionError: Operation not permitted``: the kind and the system's words, no path."""
    return f"{type(exc).__name__}: {exc.strerror or exc}"
