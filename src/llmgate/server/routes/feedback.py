"""``POST /v1/feedback`` (and ``/feedback``), as raw ASGI: a client scores one of its requests or sessions.

Thin: authenticate as every ``/v1`` route does (``Authorization: Bearer`` or ``api-key``), read
the body (bounded by ``llmgate.max_body_bytes``), and hand it to ``server/feedback.py``, which
checks it, checks that the key may score that request or session, and stores the score off the
event loop. Answers the stored score as JSON; errors in OpenAI's shape (400 naming the field, 401,
403 for another key's request, 404 for an unknown one). Not on the proxy's path: nothing here runs
for a chat completion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmgate.errors import LlmgateError
from llmgate.protocol import error_body, error_from_exception
from llmgate.server.feedback import give_feedback
from llmgate.server.http import ClientDisconnected, Receive, Scope, Send, header_map, read_body, send_reply

if TYPE_CHECKING:
    from llmgate.server.app import AppState

JSON = "application/json"
PATHS = ("/v1/feedback", "/feedback")


def handles(path: str) -> bool:
    return path in PATHS


async def dispatch(state: AppState, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] != "POST":
        body = error_body("Method not allowed; use POST.", "invalid_request_error", code="method_not_allowed")
        await send_reply(send, 405, body, JSON, {"allow": "POST"})
        return
    headers = header_map(scope)
    try:
        identity = await state.authenticator.aauthenticate(
            headers.get("authorization"), headers.get("api-key")
        )
        raw = await read_body(receive, headers, state.config.max_body_bytes)
        answer = await give_feedback(state.engine, identity, raw)
    except ClientDisconnected:
        return
    except LlmgateError as exc:
        await send_reply(send, exc.status_code, error_from_exception(exc), JSON, {})
        return
    await send_reply(send, 200, answer, JSON, {})
