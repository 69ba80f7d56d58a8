"""OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``.

The one place where llmgate's exceptions become the JSON a client reads. Messages are the
exceptions' own text, which llmgate writes without secrets; nothing else (no traceback, no
upstream URL with credentials) is ever put into a body.

An upstream's own 4xx body reaches the client as it came when it is an error object already
(OpenAI's shape, or Anthropic's, which the Messages route keeps); any other body (an HTML page
or plain text from a proxy or a wrong ``api_base``, Ollama's bare ``{"error": "..."}``, vLLM's
flat ``{"object": "error", "message": ...}``) is put into OpenAI's shape (``relayable_error``),
so an app's SDK reads every error the same way.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from llmgate.errors import LlmgateError

#: at most this many characters of an upstream's own words go into a message
DETAIL_CHARS = 300
_TAG = re.compile(rb"<[^>]*>")


def error_body(message: str, error_type: str, *, param: str | None = None, code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": error_type, "param": param, "code": code}})


def error_from_exception(exc: LlmgateError) -> bytes:
    return error_body(exc.message, exc.error_type, param=exc.param, code=exc.code)


def json_object(body: bytes) -> dict[str, Any] | None:
    """``body`` parsed, when it is one JSON object."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def message_in(data: dict[str, Any]) -> str | None:
    """The message an error object carries: ``error.message`` (OpenAI's, Anthropic's), a bare
    ``error`` string (Ollama's) or a top-level ``message`` (vLLM's)."""
    error = data.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    message = data.get("message")
    return message if isinstance(message, str) else None


def relayable_error(body: bytes, content_type: str, prefix: str) -> bytes | None:
    """``None`` when an upstream's error ``body`` may go to the client as it came (an object with an
    ``error`` object in it); else OpenAI's error body saying ``prefix``, then what the body said:
    its message, or its text (tags dropped from HTML), whitespace collapsed, at most
    ``DETAIL_CHARS`` characters."""
    data = json_object(body)
    if data is not None and isinstance(data.get("error"), dict):
        return None
    said = message_in(data) if data is not None else None
    if said is None:
        raw = _TAG.sub(b" ", body) if "html" in content_type.lower() else body
        said = raw.decode("utf-8", "replace")
    return error_body(saying(prefix, said), "invalid_request_error")


def saying(prefix: str, said: str | None) -> str:
    """``prefix``, then what an upstream ``said`` (whitespace collapsed, at most ``DETAIL_CHARS``
    characters), when it said anything."""
    detail = " ".join((said or "").split())
    if len(detail) > DETAIL_CHARS:
        detail = detail[: DETAIL_CHARS - 1] + "…"
    return f"{prefix}: {detail}" if detail else prefix


def ended_in_error_message(said: str | None) -> str:
    """The words for a stream the upstream ended with an error event saying ``said``."""
    return (
        f"the upstream ended the stream with an error: {said}"
        if said
        else "the upstream ended the stream with an error"
    )
