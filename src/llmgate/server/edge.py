"""The HTTP edge: what a client may send before the app sees its request, and how slowly.

uvicorn's httptools protocol keeps a request's header block in memory however long it grows,
and waits for the headers and the body as long as the client likes: three unterminated 100 MB
headers took the gateway from 166 to 528 MB, and a thousand half-sent requests held a thousand
sockets open. ``EdgeProtocol`` is that protocol with the limits trusted servers apply before any
application code runs (and so before authentication):

- the header block (request line included) is capped at ``llmgate.http.max_header_bytes``; past
  it the client gets 431 and the connection closes (nginx's ``large_client_header_buffers``);
- Apache ``mod_reqtimeout``'s deadlines: the header block must arrive within
  ``header_timeout_s`` (counted from the connection's opening for its first request, from the
  first byte for the next ones), the body within ``body_timeout_s`` of the headers; each deadline
  moves on by one second per ``min_rate_bytes_per_s`` bytes received, so a client that keeps up
  that rate is never cut, and one that trickles gets 408 and is closed. A connection that sends
  nothing at all within the header deadline is closed without a word. Time the server itself
  stops reading (flow control, a ``100 Continue`` not yet sent) is not held against the client.

A pipelined request that begins in the same read as the end of the one before is counted from
the next read, so its header block may pass the limit by at most one read (uvloop's 256 KiB).

The hot path pays for this with a few integer operations per read: deadlines are plain numbers
moved on as data arrives, and one timer per connection, armed only while a request is incomplete
at the end of a read, checks them lazily when it fires. A refused client gets an OpenAI-shaped
error; the connection is then closed the way nginx and Apache close it ("lingering close"): the
server stops writing, reads and discards what the client still sends for a short while, so the
client sees the answer rather than a reset.

Writes are corked for one turn of the event loop (``CorkedWriter``): what the app sends in one
turn (the status line and headers with a whole reply, or with a stream's first events and its end)
leaves in one ``send`` instead of one per ASGI message. A system call is about 10 µs of the
gateway's CPU; uvicorn writes the header block on its own, so every reply paid for two.

uvicorn is told to use it with ``http=edge_protocol(settings)`` (``cli/serve.py``); the result is a
``functools.partial`` that pickles, so ``--workers N`` hands it to every worker process.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, cast

from uvicorn._types import ASGI3Application
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from llmgate.config.hardening import HttpSettings
from llmgate.protocol import error_body

log = logging.getLogger("llmgate.server.edge")

#: After a refusal the server reads and discards what the client still sends, until it has been
#: quiet this long (Apache's SECONDS_TO_LINGER) ...
LINGER_IDLE_S = 2.0
#: ... or this long in all (Apache's MAX_SECS_TO_LINGER, nginx's lingering_time)
LINGER_MAX_S = 30.0

# Where a connection is. NEW: opened, nothing received yet; IDLE: between requests (the keep-alive
# timeout applies once the last answer is sent); HEADERS and BODY: a request is arriving; DISCARD:
# input is ignored and the connection closes once the answer in flight is sent; LINGER: refused,
# draining.
NEW, IDLE, HEADERS, BODY, DISCARD, LINGER = range(6)


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """``llmgate.http``'s protocol-level limits, as the protocol uses them."""

    max_header_bytes: int = 64 * 1024
    header_timeout_s: float = 20.0
    body_timeout_s: float = 20.0
    #: seconds a deadline moves on per byte received (1 / min rate; 0: fixed deadlines)
    seconds_per_byte: float = 1 / 500

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> EdgeLimits:
        rate = settings.min_rate_bytes_per_s
        return cls(
            max_header_bytes=settings.max_header_bytes,
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
            seconds_per_byte=1 / rate if rate > 0 else 0.0,
        )


class DirectServer(Protocol):
    """What serves a request without the ASGI round trip (``server/direct.py``'s ``DirectProxy``)."""

    def takes(self, cycle: RequestResponseCycle) -> Any:
        """What ``serve`` is told to serve, or ``None``: the request goes to the ASGI app."""

    def serve(self, taken: Any, cycle: RequestResponseCycle, edge: Any) -> Coroutine[Any, Any, None]: ...


def _direct_of(app: Any) -> DirectServer | None:
    """The ``direct`` server of the llmgate app under uvicorn's middleware (``LlmgateApp.direct``)."""
    while app is not None:
        direct = getattr(app, "direct", None)
        if direct is not None:
            return cast(DirectServer, direct)
        app = getattr(app, "app", None)
    return None


def edge_protocol(settings: HttpSettings) -> functools.partial[EdgeProtocol]:
    """The ``http`` protocol factory to hand uvicorn (picklable, for ``--workers``)."""
    return functools.partial(EdgeProtocol, limits=EdgeLimits.from_settings(settings))


class CorkedWriter:
    """A connection's transport as its response cycles see it: writes made in one turn of the
    event loop are joined and written once, at the end of the turn (``call_soon``).

    The protocol itself keeps the real transport; it flushes this writer before anything it
    writes on its own (a refusal, uvicorn's answer to a request it cannot parse), so bytes never
    leave out of order. Closing flushes first.
    """

    __slots__ = ("_loop", "_pending", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        pending = self._pending
        if pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            pending.append(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded header block and mod_reqtimeout's deadlines."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: EdgeLimits | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = limits or EdgeLimits()
        self._phase = NEW
        self._deadline = 0.0
        self._linger_end = 0.0
        self._idle_until = 0.0  # the keep-alive deadline, once the last answer is sent (0: none)
        self._header_bytes = 0
        self._header_blocks = 0  # header blocks parsed on this connection
        self._timer: asyncio.TimerHandle | None = None
        self._writer: CorkedWriter | None = None
        self._direct = _direct_of(self.app)  # the proxy routes, served without ASGI (direct.py)
        self.relaying: asyncio.Task[None] | None = None  # a streamed answer being relayed directly

    # --- the connection ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._writer = CorkedWriter(transport, self.loop)
        # The first request's header deadline runs from the opening, as Apache's does.
        self._deadline = self.loop.time() + self._limits.header_timeout_s
        self._timer = self.loop.call_at(self._deadline, self._expire)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)
        if self.relaying is not None:  # the client left mid-stream: stop relaying (recorded as 499)
            self.relaying.cancel()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        direct = self._direct
        taken = direct.takes(cycle) if direct is not None and app is self.app else None
        if taken is None:
            super()._start_asgi_task(cycle, app)
            return
        assert direct is not None
        context = contextvars.Context() if self.config.reset_contextvars else None
        task = self.loop.create_task(direct.serve(taken, cycle, self), context=context)
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def data_received(self, data: bytes) -> None:
        if self._writer is not None:  # uvicorn may write on its own below: what is corked goes first
            self._writer.flush()
        self._idle_until = 0.0  # the connection is not idle (uvicorn ends its keep-alive timer here)
        phase = self._phase
        if phase == BODY:
            self._deadline += len(data) * self._limits.seconds_per_byte
            super().data_received(data)
        elif phase >= DISCARD:
            if phase == LINGER:  # drained and dropped; close once the client has been quiet a while
                self._deadline = self.loop.time() + LINGER_IDLE_S
            return
        else:
            if phase != HEADERS:  # the first bytes of a request
                if phase == IDLE:
                    self._deadline = self.loop.time() + self._limits.header_timeout_s
                self._phase = HEADERS
                self._header_bytes = 0
            room = self._limits.max_header_bytes - self._header_bytes
            if len(data) <= room:
                self._header_bytes += len(data)
                self._deadline += len(data) * self._limits.seconds_per_byte
                super().data_received(data)
            else:
                # Parse only what fits: either the header block ends within it, or the client is
                # refused before the parser has buffered a byte past the limit.
                blocks = self._header_blocks
                super().data_received(data[:room])
                if self.transport.is_closing():  # the parser refused it (400)
                    return
                if self._header_blocks == blocks:
                    self._refuse_headers()
                    return
                self.data_received(data[room:])
                return
        if self._timer is None and self._phase in (HEADERS, BODY):
            self._timer = self.loop.call_at(self._deadline, self._expire)

    # --- parser callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._phase != HEADERS:  # a pipelined request, begun in the read that ended the last one
            self._phase = HEADERS
            self._header_bytes = 0
            self._deadline = self.loop.time() + self._limits.header_timeout_s
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._header_blocks += 1
        self._phase = BODY
        self._deadline = self.loop.time() + self._limits.body_timeout_s
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not previous and self._writer is not None:
            cycle.transport = self._writer  # type: ignore[assignment]  # its writes are corked

    def on_message_complete(self) -> None:
        self._phase = IDLE
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """uvicorn's, but the keep-alive timeout is kept by the connection's lazy timer: uvicorn
        arms a timer at every answer's end, which the next request cancels (~1.7 µs a request)."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:  # a pipelined request waits: it starts now
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_until = until = self.loop.time() + self.timeout_keep_alive
        timer = self._timer
        if timer is None or timer.when() > until:  # (later: a deadline a long upload earned)
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(until, self._expire)

    # --- limits -----------------------------------------------------------------------------

    def _expire(self) -> None:
        """The connection's timer: check the deadline of the phase it is in, lazily."""
        self._timer = None
        phase = self._phase
        if phase == IDLE and self._idle_until:  # the last answer is sent: the keep-alive timeout
            if self.loop.time() < self._idle_until:
                self._timer = self.loop.call_at(self._idle_until, self._expire)
            elif not self.transport.is_closing():
                self.transport.close()
            return
        if phase in (IDLE, DISCARD):
            return
        now = self.loop.time()
        if phase == LINGER:
            if now < min(self._deadline, self._linger_end):
                self._timer = self.loop.call_at(min(self._deadline, self._linger_end), self._expire)
            else:
                self.transport.close()
            return
        if now < self._deadline:  # data came in time: check again at the deadline it earned
            self._timer = self.loop.call_at(self._deadline, self._expire)
            return
        cycle = self.cycle
        if phase == BODY:
            if cycle is None:  # no request cycle (an upgrade uvicorn took over): nothing to answer
                self.transport.close()
                return
            if self.flow.read_paused or cycle.waiting_for_100_continue:
                # the server is not reading (the app has not asked for the body yet): not the client's delay
                self._deadline = now + self._limits.body_timeout_s
                self._timer = self.loop.call_at(self._deadline, self._expire)
                return
            if cycle.response_started:  # answered without waiting for the body: stop reading it
                self._phase = DISCARD
                if cycle.response_complete:
                    self.transport.close()
                else:
                    cycle.keep_alive = False
                return
        elif cycle is not None and not cycle.response_complete:
            # the next request is too slow while the previous answer is still being sent: end
            # the connection once that answer is complete
            self._phase = DISCARD
            cycle.keep_alive = False
            return
        if phase == NEW:  # not a byte since the connection opened
            self.transport.close()
            return
        what = "headers" if phase == HEADERS else "body"
        log.info("408: the request %s from %s did not arrive in time", what, self._peer())
        self._refuse(408, f"The request {what} did not arrive in time.", "request_timeout")

    def _refuse_headers(self) -> None:
        cycle = self.cycle
        limit = self._limits.max_header_bytes
        log.info("431: a request header block from %s passed %d bytes", self._peer(), limit)
        if cycle is not None and not cycle.response_complete:
            # a pipelined request while the previous answer is in flight: no room for a reply
            self._phase = DISCARD
            cycle.keep_alive = False
            return
        self._refuse(
            431,
            f"The request's header block is larger than the limit of {limit} bytes.",
            "request_header_fields_too_large",
        )

    def _refuse(self, status: int, message: str, code: str) -> None:
        """Answer ``status``, stop the request, and close the connection gently."""
        body = error_body(message, "invalid_request_error", code=code)
        if self._writer is not None:
            self._writer.flush()  # what an earlier answer wrote goes first
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(content))
        cycle = self.cycle
        if self._phase == BODY and cycle is not None:
            # the app waiting for this body sees the client gone; nothing it sends is written
            cycle.disconnected = True
            cycle.message_event.set()
        self._phase = LINGER
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()  # the answer, then end of stream; keep reading to drain
        self.flow.resume_reading()
        now = self.loop.time()
        self._deadline, self._linger_end = now + LINGER_IDLE_S, now + LINGER_MAX_S
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(self._deadline, self._expire)

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
