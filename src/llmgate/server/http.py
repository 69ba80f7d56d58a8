"""Raw ASGI helpers for the proxy routes: read a bounded body, send a reply.

The ``/v1`` routes skip framework routing, dependency injection and body validation: on this
path every microsecond is paid on every call (see benchmarks/). Bodies are read with their
size checked against the configured limit, from ``Content-Length`` first and then as they
arrive, so a huge body is refused without being buffered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from llmgate.errors import BodyTooLarge, InvalidRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientDisconnected(Exception):
    """The client went away while its body was being read."""


def header_map(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InvalidRequest("Invalid Content-Length header.") from None
        if size > limit:
            raise BodyTooLarge(f"Request body of {size} bytes exceeds the limit of {limit} bytes.")
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            total += len(chunk)
            if total > limit:
                raise BodyTooLarge(f"Request body exceeds the limit of {limit} bytes.")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _raw_headers(content_type: str, headers: dict[str, str], length: int | None) -> list[tuple[bytes, bytes]]:
    raw = [(b"content-type", content_type.encode("latin-1"))]
    if length is not None:
        raw.append((b"content-length", str(length).encode()))
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return raw


async def send_reply(
    send: Send, status: int, body: bytes, content_type: str, headers: dict[str, str]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _raw_headers(content_type, headers, len(body)),
        }
    )
    await send({"type": "http.response.body", "body": body})


async def start_stream(send: Send, status: int, content_type: str, headers: dict[str, str]) -> None:
    extra = {"cache-control": "no-cache", "x-accel-buffering": "no", **headers}
    await send(
        {"type": "http.response.start", "status": status, "headers": _raw_headers(content_type, extra, None)}
    )
