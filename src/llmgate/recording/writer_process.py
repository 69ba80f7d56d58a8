"""Recording from a separate writer process, so the gateway's event loop keeps its core.

Turning a call into a row (parsing the response, counting tokens, pricing) and inserting it cost
about 110 µs of CPU per record; in the gateway process that work shares the GIL with the event
loop. ``RecorderProcess`` has the ``Recorder``'s interface, but ``submit`` only appends to a
list: at the end of the event loop's turn the batch is pickled down a pipe to ``writer_child``
(started with the gateway, one per worker), which runs an ordinary ``Recorder`` against the store.

Nothing is lost on the way. A record is in the pipe by the end of the loop turn that produced its
answer (one frame per turn), which the writer drains even when the gateway is killed (``kill -9``).
A batch stays in the gateway's memory until the writer acknowledges it as stored or fsynced to a
spill file (never while the writer only holds it in memory); if the writer dies, it is restarted
and the unacknowledged batches are sent again (inserts are idempotent on the record id, so a batch
written twice is stored once). A record that will not pickle goes to the fallback on its own.
If the writer cannot be kept running, or falls behind by more than ``queue_size`` records, records
go to an in-process ``Recorder`` (the fallback), which stores or spills them as before. The writer
drains and exits when the gateway stops, or is killed (it sees its stdin close).

``unrecordable`` (read on the request path) is true while the writer (or the fallback) can neither
store nor spill records: readiness fails, and ``on_unrecordable: refuse`` answers new requests 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from llmgate.config.schema import AlertSettings
from llmgate.errors import StoreError
from llmgate.recording import frames
from llmgate.recording.recorder import Recorder
from llmgate.telemetry.metrics import Delta
from llmgate.telemetry.otel_settings import OtelSettings

log = logging.getLogger("llmgate.recording.writer")

#: restarts within a minute before recording moves into the gateway process
MAX_RESTARTS = 5
#: where an answer from the writer carries its stats
_STATS_AT = {"ack": 2, "flushed": 2, "stats": 1, "stopped": 1}


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """What the writer process needs; sent as its first frame (never on its command line)."""

    database_url: str
    spill_dir: str
    time_zone: str = "UTC"  # llmgate.time_zone: the rollups' days (store/rollups.py)
    queue_size: int = 10_000
    batch_size: int = 500
    flush_interval_s: float = 0.25
    retry_interval_s: float = 2.0
    log_level: str = "info"
    price_overrides: dict[str, dict[str, Decimal]] | None = None  # llmgate.pricing_file
    otel: OtelSettings = field(default_factory=OtelSettings)  # the writer exports the spans
    alerts: AlertSettings = field(default_factory=AlertSettings)  # where degraded-record alerts go


class RecorderProcess:
    """``Recorder``'s interface (submit, start, flush, stop, stats), backed by a writer process."""

    def __init__(
        self,
        settings: WriterSettings,
        fallback: Recorder,
        *,
        command: list[str] | None = None,
        max_restarts: int = MAX_RESTARTS,
        on_metrics: Callable[[Delta], None] | None = None,
    ) -> None:
        self._settings = settings
        self._on_metrics = on_metrics
        self._fallback = fallback
        self._command = command or [sys.executable, "-m", "llmgate.recording.writer_child"]
        self._max_restarts = max_restarts
        self._buffer: list[Any] = []
        # seq -> (item count, the batch's frame), oldest first. Kept as bytes, not objects: nothing
        # for the garbage collector to walk while the writer works, and a resend is one write.
        self._unacked: dict[int, tuple[int, bytes]] = {}
        self._unacked_items = 0
        self._seq = 0
        self._flush_waiters: dict[int, asyncio.Future[None]] = {}
        self._ping_waiters: dict[int, asyncio.Future[tuple[str | None, Any]]] = {}
        self._asks: dict[int, str] = {}  # pings that ask a question of the store (writer_child.QUERIES)
        self._flush_queue: deque[int] = deque()
        self._flush_token = 0
        self._wake = asyncio.Event()
        self._state = "new"  # new | running | stopping | stopped
        self._link: asyncio.Task[None] | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._out: asyncio.StreamWriter | None = None  # the running writer's stdin
        self._push_due = False  # a push of the buffer is scheduled for the end of this loop turn
        self._in_process = False  # gave up on the writer process
        self._child_stats: dict[str, Any] = {}
        self._restarts = 0
        self.unrecordable = False  # neither the store nor the spill directory takes records
        fallback.watch(self._refresh)

    # --- the request path ---------------------------------------------------------------------

    def submit(self, item: Any) -> None:
        """Queue ``item`` for the writer. From the event loop; O(1); never blocks, never raises."""
        try:
            if (
                self._state != "running"
                or self._in_process
                or len(self._buffer) + self._unacked_items >= self._settings.queue_size
            ):
                self._fallback.submit(item)
                return
            self._buffer.append(item)
            if self._out is None:  # between writers: the next one's send loop takes the buffer
                self._wake.set()
            elif not self._push_due:  # pushed at the end of this loop turn (not the send loop: a task's turn)
                self._push_due = True
                asyncio.get_running_loop().call_soon(self._push)
        except Exception:  # never into the request
            log.exception("recorder: could not queue a record")

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._state != "new":
            raise RuntimeError("RecorderProcess.start() may be called once")
        await self._fallback.start()
        self._state = "running"
        self._link = asyncio.create_task(self._link_loop(), name="llmgate-recorder-link")

    async def flush(self) -> None:
        """Wait until everything submitted so far is stored or on disk (see ``Recorder.flush``)."""
        if self._state != "running":
            raise RuntimeError("the recorder is not running")
        if not self._in_process:
            token = self._flush_token
            self._flush_token += 1
            waiter = asyncio.get_running_loop().create_future()
            self._flush_waiters[token] = waiter
            self._flush_queue.append(token)
            self._wake.set()
            await waiter
        await self._fallback.flush()

    async def ping(self) -> None:
        """One round trip from the writer process to the store; raises ``StoreError`` if it fails.

        Waits for the writer to be up (the caller bounds the wait).
        """
        await self.ask(None)

    async def ask(self, query: str | None) -> Any:
        """The answer of one of the writer's store reads (``writer_child.QUERIES``, by name; None: a
        ping), so this process reads the store without opening it; raises ``StoreError`` if it fails."""
        if self._state != "running" or self._in_process:
            raise StoreError("the record writer process is not running")
        token = self._flush_token
        self._flush_token += 1
        waiter: asyncio.Future[tuple[str | None, Any]] = asyncio.get_running_loop().create_future()
        self._ping_waiters[token] = waiter
        if query is not None:
            self._asks[token] = query
        self._flush_queue.append(-token - 1)  # negative tokens are pings
        self._wake.set()
        try:
            problem, answer = await waiter
        finally:
            self._ping_waiters.pop(token, None)
            self._asks.pop(token, None)
        if problem is not None:
            raise StoreError(problem)
        return answer

    async def stop(self, timeout: float = 10.0) -> None:
        """Let the writer drain and exit; what it did not confirm goes to the fallback recorder."""
        if self._state in ("stopping", "stopped"):
            return
        self._state = "stopping"  # from now on submit() goes to the fallback
        self._wake.set()
        if self._link is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._link), timeout)
            except TimeoutError:
                log.warning("recorder: the writer process did not finish in %.0f s; stopping it", timeout)
                self._kill()
                self._link.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._link
        self._take_over()
        await self._fallback.stop(timeout)
        self._state = "stopped"

    def stats(self) -> dict[str, Any]:
        """The writer's counters, with the fallback's added, as ``Recorder.stats`` has them."""
        local = self._fallback.stats()
        merged = dict(local)
        for key, value in self._child_stats.items():
            if key in ("spill_files", "spill_bytes"):  # the same directory, seen from both
                merged[key] = max(value, local.get(key, 0))
            elif isinstance(value, int) and not isinstance(value, bool):
                merged[key] = value + local.get(key, 0)
        merged["queued"] = len(self._buffer) + self._unacked_items + local["queued"]
        merged["store_ok"] = bool(self._child_stats.get("store_ok", True)) and local["store_ok"]
        merged["spill_ok"] = bool(self._child_stats.get("spill_ok", True)) and local["spill_ok"]
        merged["last_error"] = self._child_stats.get("last_error") or local["last_error"]
        merged["spill_error"] = self._child_stats.get("spill_error") or local["spill_error"]
        merged["unrecordable"] = self.unrecordable
        merged["writer"] = "in-process" if self._in_process else "process"
        merged["writer_restarts"] = self._restarts
        return merged

    # --- the writer process -------------------------------------------------------------------

    async def _link_loop(self) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            try:
                if await self._run_writer():
                    return
            except Exception:
                log.exception("recorder: talking to the writer process failed")
            if self._state != "running":
                return
            failures = 1 if time.monotonic() - started > 60 else failures + 1
            code = self._process.returncode if self._process is not None else None
            if failures > self._max_restarts:
                log.error(
                    "recorder: the writer process keeps exiting (last code %s); recording in the "
                    "gateway process instead",
                    code,
                )
                self._in_process = True
                self._take_over()
                return
            self._restarts += 1
            if self.unrecordable:
                log.error(
                    "recorder: the writer process exited (code %s) while neither the store nor the spill "
                    "directory takes records; this process holds the %d records it had not confirmed "
                    "and sends them to its successor",
                    code,
                    self._unacked_items,
                )
            else:
                log.warning(
                    "recorder: the writer process exited (code %s); restarting it and resending %d records",
                    code,
                    self._unacked_items,
                )
            await asyncio.sleep(min(0.1 * 2**failures, 5.0))

    async def _run_writer(self) -> bool:
        """One writer process's life; True when it stopped because we asked it to."""
        process = await asyncio.create_subprocess_exec(
            *self._command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        out = process.stdin
        try:
            out.write(frames.encode(self._settings))
            for _, frame in self._unacked.values():  # what a previous writer did not confirm
                out.write(frame)
            # what the previous writer did not answer: flushes, and pings (negative tokens)
            self._flush_queue = deque([*self._flush_waiters, *(-token - 1 for token in self._ping_waiters)])
            answers = asyncio.create_task(self._read_answers(process.stdout))
            sender = asyncio.create_task(self._send_loop(out))
            self._out = out
            try:
                stopped = await answers
            finally:
                self._out = None
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await sender
        finally:
            out.close()
            await process.wait()
        return stopped

    async def _send_loop(self, out: asyncio.StreamWriter) -> None:
        while True:
            if self._buffer:
                self._send_buffer(out)
            while self._flush_queue:
                token = self._flush_queue.popleft()
                message = ("ping", -token - 1, self._asks.get(-token - 1)) if token < 0 else ("flush", token)
                out.write(frames.encode(message))
            if self._state != "running":
                out.write(frames.encode(("stop",)))
                await out.drain()
                return
            await out.drain()
            if not self._buffer and not self._flush_queue:
                await self._wake.wait()
                self._wake.clear()

    def _push(self) -> None:
        """The records of this loop turn, into the pipe (its answers may be on their way already)."""
        self._push_due = False
        if self._buffer and self._out is not None and not self._out.is_closing():
            self._send_buffer(self._out)

    def _send_buffer(self, out: asyncio.StreamWriter) -> None:
        items, self._buffer = self._buffer, []
        try:
            frame = frames.encode(("batch", self._seq, items))
        except Exception:  # an item that will not pickle: that one is recorded in-process
            items = self._picklable(items)
            if not items:
                return
            frame = frames.encode(("batch", self._seq, items))
        self._unacked[self._seq] = (len(items), frame)
        self._unacked_items += len(items)
        self._seq += 1
        out.write(frame)

    def _picklable(self, items: list[Any]) -> list[Any]:
        """The items that pickle; each other one goes to the fallback recorder on its own."""
        kept = []
        for item in items:
            try:
                frames.encode(item)
            except Exception as exc:
                log.warning(
                    "recorder: a record could not be sent to the writer process (%s); recording it "
                    "in this process",
                    type(exc).__name__,
                )
                self._fallback.submit(item)
            else:
                kept.append(item)
        return kept

    async def _read_answers(self, stream: asyncio.StreamReader) -> bool:
        while True:
            message = await frames.read(stream)
            if message is None:
                return False
            kind = message[0]
            stats = message[_STATS_AT[kind]] if kind in _STATS_AT else None
            if isinstance(stats, dict):
                delta = stats.pop("metrics", None)  # traffic metrics observed since the last answer
                if delta and self._on_metrics is not None:
                    self._on_metrics(delta)
                self._child_stats = stats
                if kind == "ack":
                    self._settle(message[1])
                self._refresh()
            if kind == "flushed":
                waiter = self._flush_waiters.pop(message[1], None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            elif kind == "pong":
                ping = self._ping_waiters.get(message[1])
                if ping is not None and not ping.done():
                    ping.set_result((message[2], message[3] if len(message) > 3 else None))
            elif kind == "stopped":
                return True

    def _refresh(self) -> None:
        """Whether records can be kept, from the writer's last word and the fallback's state."""
        writer = not self._in_process and bool(self._child_stats.get("unrecordable"))
        self.unrecordable = writer or self._fallback.unrecordable

    def _settle(self, seq: int) -> None:
        while self._unacked:
            first = next(iter(self._unacked))
            if first > seq:
                break
            self._unacked_items -= self._unacked.pop(first)[0]

    def _take_over(self) -> None:
        """Hand every unconfirmed record to the fallback recorder and release flush waiters."""
        for _, frame in self._unacked.values():
            for item in frames.decode(frame)[2]:
                self._fallback.submit(item)
        for item in self._buffer:
            self._fallback.submit(item)
        self._unacked.clear()
        self._unacked_items = 0
        self._buffer = []
        self._refresh()
        for waiter in self._flush_waiters.values():
            if not waiter.done():
                waiter.set_result(None)
        self._flush_waiters.clear()

    def _kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
