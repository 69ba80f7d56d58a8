"""Raw ASGI helpers for the proxy routes: read a bounded body, send a reply, check headers.

The ``/v1`` routes skip framework routing, dependency injection and body validation: on this
path every microsecond is paid on every call (see benchmarks/). Bodies are read with their
size checked against the configured limit, from ``Content-Length`` first and then as they
arrive, so a huge body is refused without being buffered.

Header rules every surface shares live here too: a request may carry each credential header
once (``repeated_credential``, checked for every request in ``LlmgateApp``), a header the
gateway records is bounded (``oversized_recorded_header``), and ``check_operator`` is the rule
of ``llmgate.metrics_require_auth`` for ``/metrics`` and ``/health/deployments``.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any

from llmgate.auth import Authenticator
from llmgate.errors import BodyTooLarge, HeaderTooLarge, InvalidRequest, PermissionDenied
from llmgate.protocol import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientDisconnected(Exception):
    """The client went away while its body was being read."""


#: headers that carry an API key: which of two would count is ambiguous, so a request with one
#: of them twice is refused (the proxy took the last, the admin API the first)
CREDENTIAL_HEADERS = frozenset({b"authorization", b"api-key", b"x-api-key"})
#: headers the gateway keeps in the record (``x-llmgate-context``, ``x-llmgate-tags``, ...)
RECORDED_PREFIX = "x-llmgate-"


def header_map(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def repeated_credential(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """The name of a credential header the request carries more than once, if any."""
    seen: bytes | None = None
    for name, _ in headers:
        if name in CREDENTIAL_HEADERS:
            if seen is None:
                seen = name
            elif name == seen:
                return name.decode()
            else:  # two different ones (Authorization and api-key): allowed, count them all
                counts = Counter(n for n, _ in headers if n in CREDENTIAL_HEADERS)
                repeated = [n for n, count in counts.items() if count > 1]
                return repeated[0].decode() if repeated else None
    return None


def repeated_credential_body(name: str) -> bytes:
    return error_body(
        f"The request has more than one {name} header; send exactly one.",
        "invalid_request_error",
        code="duplicate_credentials",
    )


def oversized_recorded_header(headers: Mapping[str, str], limit: int) -> HeaderTooLarge | None:
    """The error for an ``x-llmgate-*`` header longer than ``limit`` bytes, if there is one."""
    for name, value in headers.items():
        if len(value) > limit and name.startswith(RECORDED_PREFIX):
            return HeaderTooLarge(
                f"The {name} header is {len(value)} bytes long; the limit is {limit} bytes.", param=name
            )
    return None


async def check_operator(
    authenticator: Authenticator, required: bool, headers: Mapping[str, str], what: str
) -> None:
    """``llmgate.metrics_require_auth``: when ``required``, only the master key or an admin key."""
    if not required:
        return
    identity = await authenticator.aauthenticate(headers.get("authorization"), headers.get("api-key"))
    if not identity.is_admin:
        raise PermissionDenied(f"{what} needs the master key or an admin key.")


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


#: the headers every streamed answer carries first (no cache or proxy buffering holds an event back)
STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def start_stream(send: Send, status: int, content_type: str, headers: dict[str, str]) -> None:
    extra = {**STREAM_HEADERS, **headers}
    await send(
        {"type": "http.response.start", "status": status, "headers": _raw_headers(content_type, extra, None)}
    )


async def close_stream(chunks: AsyncIterator[bytes], *, started: bool) -> None:
    """Close a stream answer's ``chunks`` once the server is done with them. One the server never
    began to send (its client left first) is run to its first chunk, which the gateway read before
    answering, and then closed, so the call is recorded (499, client_closed) and its upstream
    released, as for a client that left mid-way: closed unstarted, the gateway's generator would
    record nothing."""
    if not started:
        with contextlib.suppress(Exception):
            await anext(chunks)
    await chunks.aclose()  # type: ignore[attr-defined]
