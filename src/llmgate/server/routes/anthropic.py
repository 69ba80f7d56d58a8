"""Anthropic's Messages API routes, as raw ASGI: ``/v1/messages`` and ``/v1/messages/count_tokens``.

As thin as the OpenAI routes (``openai.py``): read the body (bounded), hand it to the gateway with
the Messages endpoint, send what it returns. The gateway authenticates (``x-api-key``, as
Anthropic's clients send the key, or ``Authorization: Bearer``), limits, routes, retries, falls back
and records as for chat; the adapters (``apis/messages.py``) pass the body to Anthropic
deployments and translate it for the others. What this route adds is Anthropic's error shape: an
error reply keeps the status the gateway chose and gets Anthropic's body
(``protocol/anthropic_errors.py``). Paths are served with and without the ``/v1`` prefix.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from llmgate.errors import LlmgateError
from llmgate.gateway import Reply
from llmgate.protocol.anthropic_errors import anthropic_error, to_anthropic_error
from llmgate.protocol.endpoints import Endpoint
from llmgate.server.http import (
    ClientDisconnected,
    Receive,
    Scope,
    Send,
    header_map,
    oversized_recorded_header,
    read_body,
    send_reply,
)
from llmgate.server.relay import send_stream

if TYPE_CHECKING:
    from llmgate.server.app import AppState

__all__ = ["ENDPOINTS", "messages"]

JSON = "application/json"

ENDPOINTS = {
    "/v1/messages": Endpoint.MESSAGES,
    "/messages": Endpoint.MESSAGES,
    "/v1/messages/count_tokens": Endpoint.MESSAGES_COUNT_TOKENS,
    "/messages/count_tokens": Endpoint.MESSAGES_COUNT_TOKENS,
}


async def _send_error(send: Send, reply: Reply) -> None:
    body = to_anthropic_error(reply.status, reply.body)
    await send_reply(send, reply.status, body, JSON, reply.headers)


async def messages(state: AppState, scope: Scope, receive: Receive, send: Send) -> None:
    started = time.perf_counter()
    endpoint = ENDPOINTS[scope["path"]]
    if scope["method"] != "POST":
        await send_reply(
            send, 405, anthropic_error(405, "Method not allowed; use POST."), JSON, {"allow": "POST"}
        )
        return
    if state.recorder.unrecordable and state.config.llmgate.recorder.on_unrecordable == "refuse":
        message = (
            "The gateway cannot record requests right now, and is configured to refuse them until it can."
        )
        await send_reply(send, 503, anthropic_error(503, message), JSON, {"retry-after": "5"})
        return
    headers = header_map(scope)
    oversized = oversized_recorded_header(headers, state.config.llmgate.http.max_recorded_header_bytes)
    if oversized is not None:  # refused before the body is read, and recorded without it
        await _send_error(send, state.gateway.reject(endpoint, oversized, started))
        return
    try:
        raw = await read_body(receive, headers, state.config.max_body_bytes)
    except ClientDisconnected:
        return
    except LlmgateError as exc:
        await _send_error(send, state.gateway.reject(endpoint, exc, started))
        return
    result = await state.gateway.handle(endpoint, raw, headers, started)
    if not isinstance(result, Reply):
        await send_stream(result, receive, send)
    elif result.status >= 400:
        await _send_error(send, result)
    else:
        await send_reply(send, result.status, result.body, result.content_type, result.headers)
