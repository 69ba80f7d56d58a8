"""The record writer process: ``python -m llmgate.recording.writer_child``, started by the gateway.

It reads frames (see ``frames.py``) on stdin and answers on stdout; its log goes to stderr.
The first frame is its ``WriterSettings``; then come ``("batch", seq, [CallRecord, ...])``,
``("flush", token)``, ``("ping", token, query or None)`` and ``("stop",)``. Batches go into an ordinary
``Recorder`` (queue, batch insert, spill, replay), so everything it promises holds here too. The answers are
``("ack", seq, stats)`` once every record of batch ``seq`` and those before it are in the store or
fsynced to a spill file (``Recorder.confirmed_below``: never while a record is only in this
process's memory, so the gateway keeps it and sends it again if this process dies);
``("stats", stats)`` when the recorder's state changed with nothing new to acknowledge (the
store or the spill directory failing or back, records held); ``("flushed", token, stats)`` once a
``Recorder.flush()`` begun after that frame is over; ``("pong", token, problem or None, answer)``
after one round trip to the store (with a query, ``answer`` is that read of ``QUERIES``: the gateway
follows the store's canaries through it without opening the store itself); and
``("stopped", stats)`` after ``("stop",)`` or the end of stdin, when the recorder has drained.
Answers go out when something changed, never on a timer: an idle writer sleeps. At the end
of stdin (the gateway exited, even by ``kill -9``) the writer drains what it holds into the store
or the spill file and exits; what neither takes is then lost, and
counted and logged as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from llmgate.errors import LlmgateError
from llmgate.heap import freeze_start_up
from llmgate.pricing import PriceBook
from llmgate.recording import frames
from llmgate.recording.degrade import DegradedAlerts, degraded_call_row, degraded_row
from llmgate.recording.recorder import Recorder
from llmgate.recording.writer_process import WriterSettings
from llmgate.store.canaries import active_version, list_canaries
from llmgate.store.db import create_engine_for, ping
from llmgate.store.records import StoreWriter
from llmgate.telemetry.alerts import sinks_from_config
from llmgate.telemetry.call_record import CallRecord
from llmgate.telemetry.metrics import CallMetrics
from llmgate.telemetry.observe import Observer

log = logging.getLogger("llmgate.recording.writer")

#: the store reads the gateway may ask for (``RecorderProcess.ask``): the canaries it routes by
QUERIES: dict[str, Callable[[Engine], Any]] = {"canary_version": active_version, "canaries": list_canaries}

#: after something settles, how long to gather what settles next into the same answer
_ACK_INTERVAL_S = 0.005


class _Writer:
    def __init__(self, settings: WriterSettings, out: asyncio.StreamWriter) -> None:
        self.out = out
        self.engine = create_engine_for(settings.database_url)
        self.store = StoreWriter(self.engine, settings.time_zone)
        self.prices = PriceBook(overrides=settings.price_overrides)
        self.metrics = CallMetrics()
        self.observer = Observer(self.prices, self.metrics, settings.otel)
        self.recorder = Recorder(
            self.store,
            Path(settings.spill_dir),
            prepare=self.observer.prepare,
            salvage=self.salvage,
            degrade=degraded_row,
            on_degraded=DegradedAlerts(sinks_from_config(settings.alerts), lambda: self.engine),
            probe=lambda: ping(self.engine),
            queue_size=settings.queue_size,
            batch_size=settings.batch_size,
            flush_interval_s=settings.flush_interval_s,
            retry_interval_s=settings.retry_interval_s,
            writes_at_once=self.store.writes_at_once,
        )
        self.unsettled: deque[tuple[int, int]] = deque()  # (submitted count after the batch, seq)
        self.acked = -1
        self.changed = asyncio.Event()
        self.recorder.watch(self.changed.set)

    def salvage(self, call: CallRecord, reason: str) -> dict[str, Any]:
        return degraded_call_row(call, self.prices, reason)

    def send(self, message: Any) -> None:
        if not self.out.is_closing():
            self.out.write(frames.encode(message))

    def stats(self) -> dict[str, Any]:
        """The recorder's counters, and the traffic metrics observed since the last answer."""
        stats = self.recorder.stats()
        delta = self.metrics.take()
        if delta is not None:
            stats["metrics"] = delta
        return stats

    def ack_settled(self) -> bool:
        """Acknowledge every batch now in the store or on disk; whether there was one."""
        confirmed = self.recorder.confirmed_below()
        last = None
        while self.unsettled and self.unsettled[0][0] <= confirmed:
            last = self.unsettled.popleft()[1]
        if last is None:
            return False
        self.acked = last
        self.send(("ack", last, self.stats()))
        return True

    async def answer_loop(self) -> None:
        """Answer when the recorder says something changed (no timer: an idle writer sleeps)."""
        while True:
            await self.changed.wait()
            await asyncio.sleep(_ACK_INTERVAL_S)
            self.changed.clear()
            if not self.ack_settled():
                self.send(("stats", self.stats()))
            with contextlib.suppress(ConnectionError):
                await self.out.drain()

    async def ensure_schema(self) -> None:
        try:
            await asyncio.to_thread(self.store.ensure_schema)
        except Exception as exc:  # the store may be down: records spill until it is back
            message = exc.message if isinstance(exc, LlmgateError) else type(exc).__name__
            log.warning("store unavailable (%s); records spill to disk until it is back", message)

    async def ping(self, token: int, query: str | None = None) -> None:
        """A round trip to the store; with ``query``, one of ``QUERIES`` answered with the pong."""
        try:
            if query is None:
                await asyncio.to_thread(ping, self.engine)
                answer = None
            else:
                answer = await asyncio.to_thread(QUERIES[query], self.engine)
        except LlmgateError as exc:
            self.send(("pong", token, exc.message, None))
        except Exception as exc:  # an unknown query or a failed read: the asker gets a StoreError
            self.send(("pong", token, f"store read {query!r} failed: {type(exc).__name__}", None))
        else:
            self.send(("pong", token, None, answer))

    async def flush(self, token: int) -> None:
        await self.recorder.flush()
        self.ack_settled()
        self.send(("flushed", token, self.stats()))


async def _freeze_when_built(*start_up: asyncio.Task[Any]) -> None:
    """Once the schema is checked and the price map loaded, what the process keeps for its life
    leaves the collector's sight (``heap.py``: a streamed record's CPU 114.5 → 109.2 µs)."""
    await asyncio.wait(start_up)
    freeze_start_up()


async def _serve(stdout_fd: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=frames.MAX_FRAME)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb"))
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(stdout_fd, "wb")
    )
    out = asyncio.StreamWriter(transport, protocol, None, loop)
    settings = await frames.read(reader)
    if not isinstance(settings, WriterSettings):
        return
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    writer = _Writer(settings, out)
    schema = asyncio.create_task(writer.ensure_schema())
    warm = asyncio.create_task(asyncio.to_thread(writer.prices.warm))  # meanwhile, batches arrive
    settled = asyncio.create_task(_freeze_when_built(schema, warm))
    await writer.recorder.start()
    acker = asyncio.create_task(writer.answer_loop())
    flushes: set[asyncio.Task[None]] = set()
    asked_to_stop = False
    try:
        while True:
            message = await frames.read(reader)
            if message is None or message[0] == "stop":
                asked_to_stop = message is not None
                break
            if message[0] == "batch":
                _, seq, items = message
                for item in items:
                    writer.recorder.submit(item)
                writer.unsettled.append((writer.recorder.submitted(), seq))
            elif message[0] in ("flush", "ping"):
                work = writer.flush(message[1]) if message[0] == "flush" else writer.ping(*message[1:])
                task = asyncio.create_task(work)
                flushes.add(task)
                task.add_done_callback(flushes.discard)
    finally:
        acker.cancel()
        for task in (*flushes, schema, warm, settled):
            task.cancel()
        # Asked to stop, the gateway takes back what we did not confirm; at the end of stdin it is gone.
        await writer.recorder.stop(others_hold=asked_to_stop)
        writer.ack_settled()
        writer.send(("stopped", writer.stats()))
        with contextlib.suppress(ConnectionError):
            await out.drain()
        out.close()
        writer.engine.dispose()
        writer.observer.shutdown()  # the last spans go out before the process does


def main() -> None:
    # Frames go to the original stdout; anything else printing to stdout lands on stderr instead.
    stdout_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # Ctrl-C in a terminal and a service manager's SIGTERM reach the whole process group: the
    # gateway drains first and then closes our stdin, which is when we drain and leave.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(_serve(stdout_fd))


if __name__ == "__main__":
    main()
