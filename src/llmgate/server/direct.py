"""The proxy routes served by the edge protocol itself, without the ASGI round trip.

A POST to one of the OpenAI routes (``routes/openai.py``'s ``ENDPOINTS``) is the gateway's hot
path. Under ``llmgate serve`` the edge protocol (``edge.py``) hands such a request here instead of
to the ASGI application. The answer is decided by the same ``proxy_answer`` and written to the
connection as bytes, so the request skips:

- the ASGI messages;
- the proxy-headers middleware and the app's dispatch;
- uvicorn's per-header checks of the response.

What uvicorn's protocol does around a request is kept:

- it parses the request and reads its body, with its flow control (``cycle.receive``);
- it keeps the connection alive, runs pipelined requests in turn, and counts each request.

The response's bytes are the ones uvicorn writes for the same answer: its default headers, the
status line, the headers lowercased in the same order, ``content-length`` or chunked framing, and
``connection: close`` when the connection ends after it. A header name or value holding a character
uvicorn refuses ends the connection, as it does there.

A streamed answer stops as soon as the client goes away. The protocol cancels the relay when the
connection is lost, and the gateway records the call as 499 ``client_closed``. Through ASGI, a
disconnect is only noticed by a watcher task, started for streams that last past 50 ms.

Everything else still goes through the ASGI application: other paths and methods,
``Expect: 100-continue``, the access log, and uvicorn's concurrency limit. So does every request
on a server that is not uvicorn with the edge protocol (tests that call the app in-process).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, cast

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)

from llmgate.gateway import Reply, StreamReply
from llmgate.protocol.endpoints import Endpoint
from llmgate.server.http import (
    STREAM_HEADERS,
    Receive,
    Scope,
    close_stream,
    header_map,
    repeated_credential,
    repeated_credential_body,
)
from llmgate.server.routes.openai import ENDPOINTS, proxy_answer

if TYPE_CHECKING:
    from llmgate.server.app import AppState

__all__ = ["DirectProxy", "Relaying"]

#: uvicorn's checks of response headers (``HEADER_RE``, ``HEADER_VALUE_RE``), on text
_BAD_NAME = re.compile(HEADER_RE.pattern.decode("latin-1"))
_BAD_VALUE = re.compile(HEADER_VALUE_RE.pattern.decode("latin-1"))


class Relaying(Protocol):
    """The connection's side of a streamed answer: the task relaying it, cancelled if the
    connection is lost (``EdgeProtocol``)."""

    relaying: asyncio.Task[None] | None


class DirectProxy:
    """Serves the proxy routes' POSTs for the edge protocol (see the module's docstring)."""

    def __init__(self, state: AppState) -> None:
        self._state = state

    @staticmethod
    def takes(cycle: RequestResponseCycle) -> Endpoint | None:
        """The endpoint of a request served here, or ``None`` for the ASGI application's."""
        scope = cycle.scope
        if scope["method"] != "POST" or cycle.waiting_for_100_continue or cycle.access_log:
            return None
        return ENDPOINTS.get(scope["path"])

    async def serve(self, endpoint: Endpoint, cycle: RequestResponseCycle, edge: Relaying) -> None:
        """One request, start to finish; what goes wrong ends as uvicorn's ``run_asgi`` ends it."""
        try:
            await self._serve(endpoint, cycle, edge)
        except asyncio.CancelledError:
            if not cycle.disconnected:  # the server's cancelling, not the client's leaving
                raise
        except Exception as exc:
            cycle.logger.error("Exception in ASGI application\n", exc_info=exc)
            if not cycle.response_started:
                await cycle.send_500_response()
            else:
                cycle.transport.close()
        finally:
            cycle.on_response = _nothing  # as run_asgi leaves it: the protocol was told once

    async def _serve(self, endpoint: Endpoint, cycle: RequestResponseCycle, edge: Relaying) -> None:
        scope = cast(Scope, cycle.scope)
        headers = header_map(scope)
        # the app's first rule, for every surface (``LlmgateApp``); only a name sent twice can be one
        if len(headers) != len(scope["headers"]) and (repeated := repeated_credential(scope["headers"])):
            await _send(cycle, 400, "application/json", {}, repeated_credential_body(repeated))
            return
        receive = cast(Receive, cycle.receive)
        result = await proxy_answer(self._state, endpoint, headers, receive)
        if result is None:  # the client went away while sending its body
            return
        if isinstance(result, Reply):
            await _send(cycle, result.status, result.content_type, result.headers, result.body)
            return
        edge.relaying = asyncio.current_task()
        try:
            await _relay(cycle, result)
        finally:
            edge.relaying = None


async def _send(
    cycle: RequestResponseCycle, status: int, content_type: str, headers: Mapping[str, str], body: bytes
) -> None:
    """A whole answer: its head and body in one write."""
    if cycle.flow.write_paused and not cycle.disconnected:
        await cycle.flow.drain()
    if cycle.disconnected:
        return
    cycle.transport.write(_head(cycle, status, content_type, headers, len(body)) + body)
    _complete(cycle)


async def _relay(cycle: RequestResponseCycle, reply: StreamReply) -> None:
    """A streamed answer, chunk by chunk (HTTP/1.1 chunked framing), as the gateway yields it."""
    chunks = reply.chunks
    started = False
    try:
        if cycle.disconnected:
            return
        started = True
        unsent = True  # the head goes out with the first chunk (read before the gateway answered)
        async for chunk in chunks:
            if cycle.flow.write_paused and not cycle.disconnected:
                await cycle.flow.drain()
            if cycle.disconnected:
                return  # the generator is closed below: the gateway records 499
            if chunk:
                framed = b"%x\r\n%b\r\n" % (len(chunk), chunk)
                cycle.transport.write(_stream_head(cycle, reply) + framed if unsent else framed)
                unsent = False
        if not cycle.disconnected:
            cycle.transport.write((_stream_head(cycle, reply) if unsent else b"") + b"0\r\n\r\n")
            _complete(cycle)
    finally:
        await close_stream(chunks, started=started)  # started or not, the call is recorded


def _stream_head(cycle: RequestResponseCycle, reply: StreamReply) -> bytes:
    return _head(cycle, reply.status, reply.content_type, {**STREAM_HEADERS, **reply.headers}, None)


def _head(
    cycle: RequestResponseCycle,
    status: int,
    content_type: str,
    headers: Mapping[str, str],
    length: int | None,
) -> bytes:
    """The status line and headers uvicorn writes for this answer (``RequestResponseCycle.send``)."""
    cycle.response_started = True
    lines = [f"content-type: {content_type}\r\n"]
    if length is not None:
        lines.append(f"content-length: {length}\r\n")
    close = False
    names = _NAMES
    for name, value in headers.items():
        lowered = names.get(name) or _checked_name(name)
        if lowered == "connection" and "close" in _tokens(value):
            close = True  # the answer's own "connection: close" stands
        lines.append(f"{lowered}: {value}\r\n")
    # uvicorn's check of values, a character class: printable text cannot hold one of its characters
    printable = "".join(headers.values()).isprintable() and content_type.isprintable()
    if not printable and _BAD_VALUE.search("\t".join([content_type, *headers.values()])):  # tab: allowed
        raise RuntimeError("Invalid HTTP header value.")
    if close:
        cycle.keep_alive = False
    elif not cycle.keep_alive:
        lines.append("connection: close\r\n")
    if length is None:
        cycle.chunked_encoding = True
        lines.append("transfer-encoding: chunked\r\n")
    lines.append("\r\n")
    return STATUS_LINE[status] + _DEFAULTS.lines(cycle.default_headers) + "".join(lines).encode("latin-1")


#: header names as written (lowercased), each checked once against uvicorn's rule; they come from
#: the gateway's code and config, not from clients, so the table stays small (bounded anyway)
_NAMES: dict[str, str] = {}
_MAX_NAMES = 1024


def _checked_name(name: str) -> str:
    lowered = name.lower()
    if _BAD_NAME.search(lowered):
        raise RuntimeError("Invalid HTTP header name.")
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[name] = lowered
    return lowered


def _tokens(value: str) -> list[str]:
    return [token.strip() for token in value.lower().split(",")]


class _DefaultLines:
    """uvicorn's default headers (``date``, ``server``) as header lines, joined once for each list
    (uvicorn makes a new one every second, with the new date)."""

    def __init__(self) -> None:
        self._cached: tuple[list[tuple[bytes, bytes]] | None, bytes] = (None, b"")

    def lines(self, default_headers: list[tuple[bytes, bytes]]) -> bytes:
        source, lines = self._cached  # one tuple: servers in other threads may swap it meanwhile
        if source is not default_headers:
            lines = b"".join(b"%b: %b\r\n" % pair for pair in default_headers)
            self._cached = (default_headers, lines)
        return lines


_DEFAULTS = _DefaultLines()


def _complete(cycle: RequestResponseCycle) -> None:
    """The answer is written: what uvicorn does at the end of a response."""
    cycle.response_complete = True
    cycle.message_event.set()
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()


def _nothing() -> None:
    pass
