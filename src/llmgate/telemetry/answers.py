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

from llmgate.protocol.message_text import message_text
from llmgate.telemetry import messages_usage, responses_usage

__all__ = ["Parsed", "parse_answer", "parse_response", "parse_stream"]


@dataclass(slots=True)
class Parsed:
    texts: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    response_id: str | None = None
    response_model: str | None = None


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
    """Reassemble the first choice (and usage) from raw SSE bytes.

    An upstream may answer ``stream: true`` with one JSON body instead of events (some
    OpenAI-compatible servers ignore ``stream``): that body is read as a complete response.
    """
    raw = b"".join(chunks)
    if raw[:256].lstrip()[:1] == b"{":  # SSE lines start with "data:", "event:", "id:" or ":"
        return parse_response(endpoint, raw)
    parsed = Parsed()
    pieces: dict[int, list[str]] = {}
    calls: dict[int, dict[str, Any]] = {}
    for line in raw.splitlines():
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if not payload or payload == b"[DONE]":
            continue
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(event, dict):
            continue
        if isinstance(event.get("usage"), dict):
            parsed.usage = event["usage"]
        _identify(parsed, event)
        for choice in _list(event.get("choices")):
            if not isinstance(choice, dict):
                continue
            index = _index(choice.get("index"))
            if endpoint == "completions":
                pieces.setdefault(index, []).append(str(choice.get("text") or ""))
            else:
                delta = _dict(choice.get("delta"))
                if delta.get("content"):
                    pieces.setdefault(index, []).append(str(delta["content"]))
                for call in _list(delta.get("tool_calls")) if index == 0 else []:
                    if not isinstance(call, dict):
                        continue
                    slot = calls.setdefault(_index(call.get("index")), {"type": "function", "function": {}})
                    if call.get("id"):
                        slot["id"] = call["id"]
                    function = _dict(call.get("function"))
                    if function.get("name"):
                        slot["function"]["name"] = function["name"]
                    if isinstance(function.get("arguments"), str) and function["arguments"]:
                        slot["function"]["arguments"] = (
                            slot["function"].get("arguments", "") + function["arguments"]
                        )
            if _text(choice.get("finish_reason")) and index == 0:
                parsed.finish_reason = choice["finish_reason"]
    parsed.texts = ["".join(pieces[i]) for i in sorted(pieces)]
    parsed.tool_calls = [calls[i] for i in sorted(calls)]
    return parsed


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
