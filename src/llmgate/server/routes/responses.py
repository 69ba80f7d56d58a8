"""The Responses API's stored responses, as raw ASGI: ``GET``/``DELETE /v1/responses/{id}``,
``POST /v1/responses/{id}/cancel`` and ``GET /v1/responses/{id}/input_items`` (with and without
``/v1``). ``POST /v1/responses`` itself is a proxied endpoint (``routes/openai.py``).

Thin: the path says the id and the action, the caller's key says whose responses it may see, and
``AppState.responses`` (``apis/responses_service.py``) answers from what llmgate kept or from the
deployment that keeps the response. Errors are OpenAI's shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmgate.apis.responses_service import ACTIONS
from llmgate.errors import LlmgateError
from llmgate.protocol import error_body, error_from_exception
from llmgate.server.http import Receive, Scope, Send, header_map, send_reply

if TYPE_CHECKING:
    from llmgate.server.app import AppState

JSON = "application/json"
PREFIXES = ("/v1/responses/", "/responses/")


def handles(path: str) -> bool:
    return path.startswith(PREFIXES)


def _parts(path: str) -> tuple[str, str] | None:
    """(the response id, the action) of a path, or None when it names nothing here."""
    rest = path.split("/responses/", 1)[1]
    response_id, _, action = rest.partition("/")
    if not response_id or action not in ACTIONS:
        return None
    return response_id, action


async def dispatch(state: AppState, scope: Scope, receive: Receive, send: Send) -> None:
    path: str = scope["path"]
    parts = _parts(path)
    if parts is None:
        body = error_body(f"Invalid URL ({scope['method']} {path})", "invalid_request_error")
        await send_reply(send, 404, body, JSON, {})
        return
    response_id, action = parts
    method: str = scope["method"]
    allowed = ACTIONS[action]
    if method not in allowed:
        message = f"Method not allowed; use {' or '.join(allowed)}."
        body = error_body(message, "invalid_request_error", code="method_not_allowed")
        await send_reply(send, 405, body, JSON, {"allow": ", ".join(allowed)})
        return
    query = scope.get("query_string", b"").decode("latin-1")
    try:
        status, body = await state.responses.handle(method, response_id, action, header_map(scope), query)
    except LlmgateError as exc:
        await send_reply(send, exc.status_code, error_from_exception(exc), JSON, {})
        return
    await send_reply(send, status, body, JSON, {})
