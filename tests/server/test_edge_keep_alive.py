"""The keep-alive timeout, kept by the edge protocol's own lazy timer (``server/edge.py``) instead
of a timer uvicorn arms at every answer's end: through a real uvicorn server on loopback with the
edge protocol, a keep-alive timeout of 0.5 s, and raw sockets (the client must see the close)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from llmgate.config.hardening import HttpSettings
from llmgate.server.edge import edge_protocol

KEEP_ALIVE_S = 0.5


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":  # answers after twice the keep-alive timeout
        await asyncio.sleep(2 * KEEP_ALIVE_S)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        http=edge_protocol(HttpSettings()),  # type: ignore[arg-type]
        timeout_keep_alive=KEEP_ALIVE_S,  # type: ignore[arg-type]
        lifespan="off",
        log_level="warning",
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])  # serving from here on, in this event loop
    yield sock.getsockname()[1]
    await server.shutdown(sockets=[sock])


def get(path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode()


async def answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    return await reader.readexactly(2)


async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(get())
    assert await answer(reader) == b"ok"
    answered = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the server closed it
    assert KEEP_ALIVE_S - 0.05 <= time.monotonic() - answered < KEEP_ALIVE_S + 0.5
    writer.close()


async def test_a_connection_in_use_stays_open_past_the_timeout(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    for _ in range(10):  # a request every fifth of a timeout, for two timeouts in all
        writer.write(get())
        assert await answer(reader) == b"ok"
        await asyncio.sleep(KEEP_ALIVE_S / 5)
    assert time.monotonic() - started > 2 * KEEP_ALIVE_S
    writer.close()


async def test_a_slow_answer_on_a_reused_connection_is_not_cut_by_the_timeout(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(get())
    assert await answer(reader) == b"ok"
    await asyncio.sleep(KEEP_ALIVE_S / 5)  # the keep-alive deadline is set; the next request ends it
    writer.write(get("/slow"))
    assert await answer(reader) == b"ok"
    writer.write(get())  # and the connection still serves
    assert await answer(reader) == b"ok"
    writer.close()


async def test_pipelined_requests_are_answered_then_the_connection_idles_out(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(get("/slow") + get() + get())
    for _ in range(3):
        assert await answer(reader) == b"ok"
    answered = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert time.monotonic() - answered < KEEP_ALIVE_S + 0.5
    writer.close()
