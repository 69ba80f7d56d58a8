"""What a record takes from a Responses API answer: its text, function calls, finish and usage.

``call_record.to_row`` reads chat completions; a ``/v1/responses`` call's answer is a Responses
object (plain) or its typed events (streamed, where everything is in ``response.completed``, or
``response.incomplete`` / ``response.failed``). ``parse`` reads either and answers in the
record's terms: the output text, function calls as chat tool calls, a chat-like finish reason
(``stop``, ``tool_calls``, ``length``, ``content_filter``), and usage under chat's names
(``input_tokens`` → ``prompt_tokens`` with ``prompt_tokens_details.cached_tokens``,
``output_tokens`` → ``completion_tokens`` with ``completion_tokens_details.reasoning_tokens``), so
tokens are counted and priced as chat's are. A stream cut before its last event still gives the
text and calls that were sent. Defensive: any field may have any type.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmgate.protocol.errors import message_in

__all__ = ["parse"]

#: (texts, tool calls, finish reason, usage in chat's names, response id, model)
Parsed = tuple[
    list[str], list[dict[str, Any]], str | None, dict[str, Any] | None, str | None, str | None, str | None
]
_FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def parse(stream: bool, body: bytes | None, chunks: list[bytes]) -> Parsed:
    """The record's reading of a plain answer (``body``) or of a stream's ``chunks``."""
    if not stream:
        return _from_object(_loads(body) if body else None)
    raw = b"".join(chunks)
    if raw[:256].lstrip()[:1] == b"{":  # an upstream that answered one body to stream: true
        return _from_object(_loads(raw))
    texts: list[str] = []
    calls: dict[str, dict[str, Any]] = {}
    identity: dict[str, Any] = {}
    error: str | None = None
    for line in raw.splitlines():
        if not line.startswith(b"data:"):
            continue
        event = _loads(line[5:].strip())
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if kind in _FINAL and isinstance(event.get("response"), dict):
            return _from_object(event["response"])
        if kind == "error":  # the end of a stream that failed mid-way
            error = message_in(event) or ""
        if kind == "response.created" and isinstance(event.get("response"), dict):
            identity = event["response"]
        elif kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            texts.append(event["delta"])
        elif kind == "response.output_item.done" and isinstance(event.get("item"), dict):
            item = event["item"]
            if item.get("type") == "function_call":
                calls[str(item.get("id"))] = _tool_call(item)
    return (
        ["".join(texts)] if texts else [],
        list(calls.values()),
        None,
        None,
        _text(identity.get("id")),
        _text(identity.get("model")),
        error,
    )


def _from_object(data: Any) -> Parsed:
    if not isinstance(data, dict):
        return [], [], None, None, None, None, None
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in _list(data.get("output")):
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            for part in _list(item.get("content")):
                if isinstance(part, dict) and part.get("type") == "output_text":
                    texts.append(str(part.get("text") or ""))
        elif item.get("type") == "function_call":
            calls.append(_tool_call(item))
    status = data.get("status")
    details = data.get("incomplete_details")
    details = details if isinstance(details, dict) else {}
    if status == "incomplete":
        finish: str | None = _INCOMPLETE.get(str(details.get("reason")), "length")
    elif status == "completed":
        finish = "tool_calls" if calls else "stop"
    else:
        finish = None
    return (
        ["".join(texts)] if texts else [],
        calls,
        finish,
        _usage(data.get("usage")),
        _text(data.get("id")),
        _text(data.get("model")),
        (message_in(data) or "") if status == "failed" else None,
    )


def _usage(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    prompt_details = usage.get("input_tokens_details")
    completion_details = usage.get("output_tokens_details")
    return {
        "prompt_tokens": usage.get("input_tokens"),
        "completion_tokens": usage.get("output_tokens"),
        "total_tokens": usage.get("total_tokens"),
        "prompt_tokens_details": prompt_details if isinstance(prompt_details, dict) else {},
        "completion_tokens_details": completion_details if isinstance(completion_details, dict) else {},
    }


def _tool_call(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item.get("call_id"),
        "type": "function",
        "function": {"name": item.get("name"), "arguments": item.get("arguments")},
    }


def _loads(raw: bytes | None) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
