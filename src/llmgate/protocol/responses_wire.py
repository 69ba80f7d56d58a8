"""The Responses API's wire rules the gateway itself applies: the request check, the SSE framing, the
error event that ends a cut stream, and OpenAI's not-found error.

``check_responses_body`` is what ``requests.check_body`` asks of a ``/v1/responses`` body: ``input``
(a string or an array of items) or ``previous_response_id``, and the types of the fields the gateway
reads itself (``store``, ``instructions``, ``max_output_tokens``, ``tools``); the rest is the
upstream's to judge. A stream of the Responses API is typed events (``event: TYPE`` then ``data:``
JSON with ``type`` and ``sequence_number``); a stream cut mid-way ends with its ``error`` event,
numbered after the last event sent (``ResponsesStreamCut`` carries that number from the stream that
counted the events to the gateway, which frames the event with ``responses_sse_error``).
"""

from __future__ import annotations

from typing import Any

import orjson

from llmgate.errors import InvalidRequest, LlmgateError, StreamInterrupted

__all__ = [
    "ResponsesStreamCut",
    "check_responses_body",
    "not_found_body",
    "responses_sse_error",
    "sse_event",
]


def check_responses_body(body: dict[str, Any]) -> None:
    """``InvalidRequest`` (400, OpenAI's words) for a ``/v1/responses`` body the gateway cannot read."""
    value = body.get("input")
    previous = body.get("previous_response_id")
    if value is None and previous is None:
        raise InvalidRequest(
            "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
        )
    if value is not None and not isinstance(value, str | list):
        raise InvalidRequest("'input' must be a string or an array of input items.", param="input")
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise InvalidRequest(f"'input[{i}]' must be an object.", param=f"input[{i}]")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise InvalidRequest(
            "'previous_response_id' must be a non-empty string.", param="previous_response_id"
        )
    store = body.get("store")
    if store is not None and not isinstance(store, bool):
        raise InvalidRequest("'store' must be a boolean.", param="store")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str | list):
        raise InvalidRequest("'instructions' must be a string.", param="instructions")
    limit = body.get("max_output_tokens")
    if limit is not None and (type(limit) is not int or limit < 1):
        raise InvalidRequest("'max_output_tokens' must be a positive integer.", param="max_output_tokens")
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        raise InvalidRequest("'tools' must be an array of tool objects.", param="tools")


def sse_event(payload: dict[str, Any]) -> bytes:
    """One typed event as the Responses API frames it (``payload`` carries its ``type``)."""
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class ResponsesStreamCut(StreamInterrupted):
    """A Responses stream broke after ``sequence_number`` events had been sent."""

    def __init__(self, message: str, *, deployment: str | None = None, sequence_number: int = 0) -> None:
        super().__init__(message, deployment=deployment)
        self.sequence_number = sequence_number


def responses_sse_error(exc: LlmgateError) -> bytes:
    """The ``error`` event that ends a Responses stream cut mid-way (the gateway's ``STREAM_ERRORS``)."""
    sequence = exc.sequence_number if isinstance(exc, ResponsesStreamCut) else 0
    return sse_event(
        {
            "type": "error",
            "code": exc.code or exc.error_type,
            "message": exc.message,
            "param": None,
            "sequence_number": sequence,
        }
    )


def not_found_body(response_id: str, *, previous: bool = False) -> bytes:
    """OpenAI's 404 body for a response that is not there (or not the caller's)."""
    if previous:
        message = f"Previous response with id '{response_id}' not found."
        param, code = "previous_response_id", "previous_response_not_found"
    else:
        message, param, code = f"Response with id '{response_id}' not found.", None, None
    return orjson.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    )
