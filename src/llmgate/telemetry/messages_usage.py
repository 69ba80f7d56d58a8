"""Reading an Anthropic Messages API answer for the record: its text, tool calls, stop reason, usage.

``/v1/messages`` answers (a ``message`` object, or Anthropic's SSE events: ``message_start``,
``content_block_start`` / ``_delta`` / ``_stop``, ``message_delta``, ``message_stop``) are what the
client got, whichever deployment served it (the native passthrough or a translated one): the
record is made from them, off the request path, as ``call_record.py`` makes chat's.

Usage comes back in the record's own terms: Anthropic's ``input_tokens`` leave out the prompt
tokens read from or written to the prompt cache, so the recorded prompt tokens are all three
(``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``), the cached tokens are
the cache reads, and ``cache_creation_input_tokens`` is passed on for pricing (cache writes cost
more than plain input). In a stream the counts of ``message_delta`` are cumulative and replace
those of ``message_start``. A ``count_tokens`` answer has no usage: counting costs nothing.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmgate.protocol.errors import message_in

__all__ = ["ENDPOINTS", "parse"]

#: the endpoints whose answers are read here
ENDPOINTS = frozenset({"messages", "messages/count_tokens"})
_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _record_usage(anthropic: dict[str, int]) -> dict[str, Any] | None:
    """Anthropic's usage in the record's terms (OpenAI's names, cache writes beside them)."""
    if "input_tokens" not in anthropic and "output_tokens" not in anthropic:
        return None
    created = anthropic.get("cache_creation_input_tokens", 0)
    read = anthropic.get("cache_read_input_tokens", 0)
    prompt = anthropic.get("input_tokens", 0) + created + read
    completion = anthropic.get("output_tokens", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": read},
        "cache_creation_input_tokens": created,
    }


def _merge_usage(into: dict[str, int], usage: Any) -> None:
    if isinstance(usage, dict):
        for name in _USAGE_FIELDS:
            value = _count(usage.get(name))
            if value is not None:
                into[name] = value


def _tool_call(block: dict[str, Any], arguments: str | None = None) -> dict[str, Any]:
    """A ``tool_use`` block as the record keeps tool calls (its input as JSON text)."""
    if arguments is None:
        arguments = orjson.dumps(block.get("input", {})).decode()
    return {"id": block.get("id"), "type": "tool_use", "name": block.get("name"), "input": arguments}


def _fields(
    texts: list[str],
    calls: list[dict[str, Any]],
    stop: Any,
    usage: dict[str, int],
    message: dict[str, Any],
) -> dict[str, Any]:
    return {
        "texts": texts,
        "tool_calls": calls,
        "finish_reason": stop if isinstance(stop, str) else None,
        "usage": _record_usage(usage),
        "response_id": message.get("id") if isinstance(message.get("id"), str) else None,
        "response_model": message.get("model") if isinstance(message.get("model"), str) else None,
    }


def _parse_message(data: dict[str, Any]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    content = data.get("content")
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            calls.append(_tool_call(block))
    usage: dict[str, int] = {}
    _merge_usage(usage, data.get("usage"))
    return _fields(["".join(texts)] if texts else [], calls, data.get("stop_reason"), usage, data)


def _parse_events(raw: bytes) -> dict[str, Any]:
    message: dict[str, Any] = {}
    usage: dict[str, int] = {}
    blocks: dict[int, dict[str, Any]] = {}  # by index: the block as it started, and what it grew
    stop: Any = None
    error: str | None = None
    for line in raw.splitlines():
        if not line.startswith(b"data:"):
            continue
        try:
            event = orjson.loads(line[5:].strip())
        except orjson.JSONDecodeError:
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            message = event["message"]
            _merge_usage(usage, message.get("usage"))
        elif kind == "content_block_start" and isinstance(event.get("content_block"), dict):
            index = _count(event.get("index")) or 0
            blocks[index] = {"block": event["content_block"], "parts": []}
        elif kind == "content_block_delta" and isinstance(event.get("delta"), dict):
            slot = blocks.get(_count(event.get("index")) or 0)
            delta = event["delta"]
            piece = delta.get("text") if delta.get("type") == "text_delta" else delta.get("partial_json")
            if slot is not None and isinstance(piece, str):
                slot["parts"].append(piece)
        elif kind == "error":  # Anthropic's end of a stream that failed mid-way
            error = message_in(event) or ""
        elif kind == "message_delta":
            delta = event.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason") is not None:
                stop = delta["stop_reason"]
            _merge_usage(usage, event.get("usage"))
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for index in sorted(blocks):
        block, parts = blocks[index]["block"], blocks[index]["parts"]
        if block.get("type") == "text":
            texts.append(str(block.get("text") or "") + "".join(parts))
        elif block.get("type") == "tool_use":
            calls.append(_tool_call(block, "".join(parts) or None))
    return {**_fields(["".join(texts)] if texts else [], calls, stop, usage, message), "error": error}


def parse(stream: bool, body: bytes | None, chunks: list[bytes]) -> dict[str, Any]:
    """The fields of ``call_record``'s parse result for a Messages API answer (a plain body, or the
    event stream's chunks); an unreadable answer gives empty fields."""
    raw = b"".join(chunks) if stream else body or b""
    if raw[:256].lstrip()[:1] == b"{":  # one JSON body, even when a stream was asked for
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        return _parse_message(data if isinstance(data, dict) else {})
    return _parse_events(raw)
