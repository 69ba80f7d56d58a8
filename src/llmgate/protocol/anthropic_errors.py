"""Anthropic's error body, for the Messages API routes: ``{"type": "error", "error": {"type", "message"}}``.

The gateway decides every error's HTTP status and words once, in OpenAI's shape
(``protocol/errors.py``); a client of ``/v1/messages`` is owed Anthropic's shape instead, with the
same status. This module is that one translation: the error type from the status (Anthropic's
table: 400 ``invalid_request_error``, 401 ``authentication_error``, 403 ``permission_error``, 404
``not_found_error``, 413 ``request_too_large``, 429 ``rate_limit_error``, 529 and 503
``overloaded_error``, other 5xx ``api_error``), a complete error body from an OpenAI-shaped one (or
kept as it is when an Anthropic upstream already wrote it), and the ``event: error`` SSE event
that ends a stream cut mid-way.
"""

from __future__ import annotations

import orjson

from llmgate.errors import LlmgateError
from llmgate.protocol.errors import json_object, message_in

__all__ = ["anthropic_error", "anthropic_error_type", "anthropic_sse_error", "to_anthropic_error"]

_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def anthropic_error_type(status: int) -> str:
    """Anthropic's error type for an HTTP status (other 4xx: ``invalid_request_error``)."""
    known = _BY_STATUS.get(status)
    if known is not None:
        return known
    return "api_error" if status >= 500 else "invalid_request_error"


def anthropic_error(status: int, message: str) -> bytes:
    return orjson.dumps(
        {"type": "error", "error": {"type": anthropic_error_type(status), "message": message}}
    )


def _message_of(body: bytes) -> tuple[str | None, bool]:
    """(the message an error body carries, whether the body is Anthropic's shape already)."""
    data = json_object(body)
    if data is None:
        return None, False
    error = data.get("error")
    if data.get("type") == "error" and isinstance(error, dict) and isinstance(error.get("type"), str):
        return None, True
    return message_in(data), False


def to_anthropic_error(status: int, body: bytes) -> bytes:
    """An error reply's body in Anthropic's shape: kept when it is so already, else rebuilt from the
    message of an OpenAI-shaped (or other JSON) body, with the type its status says."""
    message, already = _message_of(body)
    if already:
        return body
    return anthropic_error(status, message or f"The request failed with HTTP status {status}.")


def anthropic_sse_error(exc: LlmgateError) -> bytes:
    """The event that ends a Messages stream broken mid-way (``event: error``, as Anthropic sends)."""
    error_type = "overloaded_error" if exc.status_code in (503, 529) else "api_error"
    payload = orjson.dumps({"type": "error", "error": {"type": error_type, "message": exc.message}})
    return b"event: error\ndata: " + payload + b"\n\n"
