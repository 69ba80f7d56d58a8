"""The event that ends a stream cut mid-way, in the API the client speaks: one table, by endpoint.

Once a stream has begun, an error can no longer change the HTTP status: the gateway ends the
stream with one last event saying what broke, and each API has its own. OpenAI's chat and
completions streams get ``data: {"error": ...}`` (``protocol/errors.py``), Anthropic's Messages API
``event: error`` (``anthropic_errors.py``), the Responses API its ``error`` event
(``responses_wire.py``). ``Gateway._relay`` asks ``stream_error`` for the endpoint it serves.
"""

from __future__ import annotations

from collections.abc import Callable

from llmgate.errors import LlmgateError
from llmgate.protocol.anthropic_errors import anthropic_sse_error
from llmgate.protocol.errors import error_from_exception
from llmgate.protocol.responses_wire import responses_sse_error

__all__ = ["STREAM_ERRORS", "sse_error", "stream_error"]


def sse_error(exc: LlmgateError) -> bytes:
    """OpenAI's: the error body as one more ``data:`` line."""
    return b"data: " + error_from_exception(exc) + b"\n\n"


#: by endpoint (the path after ``/v1/``), where its API is not OpenAI's
STREAM_ERRORS: dict[str, Callable[[LlmgateError], bytes]] = {
    "messages": anthropic_sse_error,
    "responses": responses_sse_error,
}


def stream_error(endpoint: str, exc: LlmgateError) -> bytes:
    return STREAM_ERRORS.get(endpoint, sse_error)(exc)
