"""What a record takes from an answer: its text, tool calls, finish reason, usage, id and model.

Each API answers in its own shape; ``parse_answer`` reads the one an endpoint speaks, plain or
streamed, into one ``Parsed``: OpenAI's chat completions, completions and embeddings here,
Anthropic's Messages API in ``messages_usage.py``, the Responses API in ``responses_usage.py``
(both give usage under chat's names, so tokens are counted and priced alike). An upstream's JSON is
read defensively: any field may have any type, and something is always returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from llmgate.errors import UpstreamError
from llmgate.protocol.errors import ended_in_error_message, message_in
from llmgate.protocol.message_text import message_text
from llmgate.protocol.redact import redact_text
from llmgate.telemetry import messages_usage, responses_usage

__all__ = ["Parsed", "error_event_columns", "failed_stream", "parse_answer", "parse_response", "parse_stream"]


@dataclass(slots=True)
class Parsed:
    texts: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    response_id: str | None = None
    response_model: str | None = None
    error: str | None = None  # what an error event that ended a stream said ("": nothing)


def _choice_text(endpoint: str, choice: dict[str, Any]) -> str:
    if endpoint == "completions":
        return str(choice.get("text") or "")
    content = _dict(choice.get("message")).get("content")
    return message_text(content) if isinstance(content, list) else str(content or "")


def parse_response(endpoint: str, body: bytes | None) -> Parsed:
    parsed = Parsed()
    if not body:
        return parsed
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return parsed
    if not isinstance(data, dict):
        return parsed
    usage = data.get("usage")
    parsed.usage = usage if isinstance(usage, dict) else None
    _identify(parsed, data)
    for choice in _list(data.get("choices")):
        if not isinstance(choice, dict):
            continue
        parsed.texts.append(_choice_text(endpoint, choice))
        calls = _dict(choice.get("message")).get("tool_calls") if endpoint == "chat/completions" else None
        if isinstance(calls, list) and calls and choice.get("index", 0) == 0:
            parsed.tool_calls = [c for c in calls if isinstance(c, dict)]
        if choice.get("index", 0) == 0:
            parsed.finish_reason = _text(choice.get("finish_reason"))
    return parsed


def parse_stream(endpoint: str, chunks: list[bytes]) -> Parsed:
    """Reassemble the choices (and usage) from raw SSE bytes.

    An upstream may answer ``stream: true`` with one JSON body instead of events (some
    OpenAI-compatible servers ignore ``stream``): that body is read as a complete response.
    """
    raw = b"".join(chunks)
    if raw[:256].lstrip()[:1] == b"{":  # SSE lines start with "data:", "event:", "id:" or ":"
        return parse_response(endpoint, raw)
    parsed = Parsed()
    pieces: dict[int, list[str]] = {}
    calls: dict[int, dict[str, Any]] = {}
    completions = endpoint == "completions"
    identified = False
    for event in _events(raw):  # one turn an event: the checks are written out, not called
        if type(event) is not dict:
            continue
        usage = event.get("usage")
        if type(usage) is dict:
            parsed.usage = usage
        if event.get("error") is not None and parsed.error is None:  # a stream failed mid-way
            parsed.error = message_in(event) or ""
        if not identified:
            _identify(parsed, event)
            identified = parsed.response_id is not None and parsed.response_model is not None
        choices = event.get("choices")
        if type(choices) is not list:
            continue
        for choice in choices:
            if type(choice) is not dict:
                continue
            index = choice.get("index", 0)
            if type(index) is not int:  # bool is not int here either
                index = 0
            if completions:
                text = choice.get("text")
                pieces.setdefault(index, []).append(text if type(text) is str else str(text or ""))
            else:
                delta = choice.get("delta")
                if type(delta) is dict:
                    content = delta.get("content")
                    if content:
                        pieces.setdefault(index, []).append(content if type(content) is str else str(content))
                    if index == 0 and "tool_calls" in delta:
                        _add_tool_calls(calls, delta["tool_calls"])
            finish = choice.get("finish_reason")
            if finish and index == 0 and type(finish) is str:
                parsed.finish_reason = finish
    parsed.texts = ["".join(pieces[i]) for i in sorted(pieces)]
    parsed.tool_calls = [calls[i] for i in sorted(calls)]
    return parsed


#: the Responses API's events that end a stream in failure (its ``error`` event has no ``error`` key)
_FAILED_TYPES = frozenset({"error", "response.failed"})


def failed_stream(chunks: list[bytes]) -> str | None:
    """``UpstreamError``'s type if the stream whose ``chunks`` these are ended with an error event
    (as ``error_event_columns`` records it), else None. The gateway asks at the end of every stream,
    to count such a stream against its deployment's circuit breaker, so only the end is read: the
    last event of the last three chunks (the one before a closing ``[DONE]``), parsed only if it
    holds the word."""
    tail = b"".join(chunks[-3:])
    start = tail.rfind(b"data:")  # searched from the end: only the last events are read
    if start != -1 and tail[start + 5 :].strip() == b"[DONE]":
        start = tail.rfind(b"data:", 0, start)
    last = tail[start:] if start != -1 else tail
    if b"error" not in last and b"failed" not in last:
        return None
    for event in _events(last):
        if type(event) is dict and (event.get("error") is not None or event.get("type") in _FAILED_TYPES):
            return UpstreamError.error_type
    return None


def _events(raw: bytes) -> list[Any]:
    """The JSON of every ``data:`` line of an SSE body (``[DONE]`` and lines that are not JSON skipped).

    All in one ``orjson.loads`` of a JSON array (a stream's events cost one parse, not one each);
    line by line when that array does not hold exactly one value per line.
    """
    events = _plain_events(raw)
    if events is not None:
        return events
    payloads = [
        payload
        for line in raw.splitlines()
        if line[:5] == b"data:" and (payload := line[5:].strip()) and payload != b"[DONE]"
    ]
    if not payloads:
        return []
    try:
        events = orjson.loads(b"[" + b",".join(payloads) + b"]")
    except orjson.JSONDecodeError:
        events = None
    if isinstance(events, list) and len(events) == len(payloads):
        return events
    found = []
    for payload in payloads:
        try:
            found.append(orjson.loads(payload))
        except orjson.JSONDecodeError:
            continue
    return found


_DATA = b"data: "
_SEPARATOR = b"\n\n" + _DATA
_DONE = _DATA + b"[DONE]"


def _plain_events(raw: bytes) -> list[Any] | None:
    """``_events`` of a stream written as OpenAI writes one (``data: <json>`` events, each after a
    blank line, an optional ``data: [DONE]`` last), or None for any other shape. A newline cannot
    stand inside JSON text, so the separators can only be between events: the stream becomes one
    JSON array by replacing them, taken only when it parses into one value per event."""
    body = raw.strip()
    if body.endswith(_DONE):
        body = body[: -len(_DONE)].rstrip(b"\n")
    if not body.startswith(_DATA):
        return None
    written = body[len(_DATA) :]
    joined = written.replace(_SEPARATOR, b",")
    try:
        events = orjson.loads(b"[" + joined + b"]")
    except orjson.JSONDecodeError:
        return None
    separators = (len(written) - len(joined)) // (len(_SEPARATOR) - 1)  # each replaced shortened it so
    return events if len(events) == separators + 1 else None


def _add_tool_calls(calls: dict[int, dict[str, Any]], deltas: Any) -> None:
    """Fold one event's tool-call deltas (of the first choice) into ``calls``, by their index."""
    for call in _list(deltas):
        if not isinstance(call, dict):
            continue
        slot = calls.setdefault(_index(call.get("index")), {"type": "function", "function": {}})
        if call.get("id"):
            slot["id"] = call["id"]
        function = _dict(call.get("function"))
        if function.get("name"):
            slot["function"]["name"] = function["name"]
        if isinstance(function.get("arguments"), str) and function["arguments"]:
            slot["function"]["arguments"] = slot["function"].get("arguments", "") + function["arguments"]


def parse_answer(endpoint: str, stream: bool, body: bytes | None, chunks: list[bytes]) -> Parsed:
    """The record's reading of an answer of ``endpoint``: ``body`` when plain, ``chunks`` when streamed."""
    if endpoint == "embeddings":
        parsed = Parsed()
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("usage"), dict):
            parsed.usage = data["usage"]
        if isinstance(data, dict):
            _identify(parsed, data)
        return parsed
    if endpoint in messages_usage.ENDPOINTS:  # Anthropic's Messages API
        return Parsed(**messages_usage.parse(stream, body, chunks))
    if endpoint == "responses":  # the Responses API
        return Parsed(*responses_usage.parse(stream, body, chunks))
    return parse_stream(endpoint, chunks) if stream else parse_response(endpoint, body)


def error_event_columns(parsed: Parsed, status: str) -> dict[str, Any]:
    """A row's outcome columns for a stream whose HTTP status said success but which the upstream
    ended with an error event (OpenAI's ``data: {"error": ...}``, Anthropic's ``event: error``, the
    Responses API's ``error`` or ``response.failed``): the upstream's failure, as a stream cut
    mid-way is (``{}``: none)."""
    if parsed.error is None or status != "success":
        return {}
    return {
        "status": "error",
        "status_code": UpstreamError.status_code,
        "error_type": UpstreamError.error_type,
        "error_message": redact_text(ended_in_error_message(parsed.error)),
    }


# An upstream's JSON is read defensively: any field may have any type, and a row is always made.
def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _index(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _identify(parsed: Parsed, data: dict[str, Any]) -> None:
    if parsed.response_id is None and isinstance(data.get("id"), str):
        parsed.response_id = data["id"]
    if parsed.response_model is None and isinstance(data.get("model"), str):
        parsed.response_model = data["model"]
