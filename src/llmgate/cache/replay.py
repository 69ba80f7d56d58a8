"""A cached answer told as a stream, and a streamed answer kept as the JSON it amounts to.

One entry serves both kinds of request: the cache keeps every answer as OpenAI's complete JSON
body, so a plain request after a streamed one (or a stream after a plain answer) is a hit.

``replay_chunks``: the SSE events of a complete chat or completions answer, the way OpenAI streams
it: a first chunk with the role, the content, the tool calls (whole, one chunk each), a chunk with
the finish reason, a usage chunk when ``stream_options.include_usage`` asked for one, and
``data: [DONE]``. Every choice is told, with its index.

``assemble``: a streamed answer as the JSON body it amounts to (``telemetry/answers.py``
``parse_stream`` reads the chunks), or None when it must not be kept: no finish reason (cut,
partial), a ``content_filter`` finish or a refusal, several choices or logprobs (a stream's
reassembly keeps only the first choice's text, tool calls and finish).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from llmgate.telemetry.answers import parse_stream

__all__ = ["Replayed", "assemble", "replay_chunks"]

DONE = b"data: [DONE]\n\n"


class Replayed:
    """Replayed chunks as an opened upstream stream (``providers/base.py`` ``UpstreamStream``), so
    the gateway relays and records a hit as it does any stream."""

    status = 200
    content_type = "text/event-stream"

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.headers: dict[str, str] = {}

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk

    async def aclose(self) -> None:
        return None


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def replay_chunks(endpoint: str, body: bytes, include_usage: bool) -> list[bytes] | None:
    """The SSE events telling ``body`` (a complete answer of ``endpoint``); None if it cannot be told."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        return None
    base: dict[str, Any] = {
        "id": data.get("id") or "cached",
        "created": data.get("created") or int(time.time()),
        "model": data.get("model") or "",
    }
    if data.get("system_fingerprint") is not None:
        base["system_fingerprint"] = data["system_fingerprint"]
    chunks: list[bytes] = []
    choices = [c for c in data["choices"] if isinstance(c, dict)]
    if endpoint == "completions":
        base["object"] = "text_completion"
        for i, choice in enumerate(choices):
            index = choice.get("index", i)
            text = {"index": index, "text": choice.get("text") or "", "logprobs": None, "finish_reason": None}
            chunks.append(_event({**base, "choices": [text]}))
            end = {"index": index, "text": "", "logprobs": None, "finish_reason": choice.get("finish_reason")}
            chunks.append(_event({**base, "choices": [end]}))
    elif endpoint == "chat/completions":
        base["object"] = "chat.completion.chunk"
        for i, choice in enumerate(choices):
            chunks += _chat_choice(base, choice, choice.get("index", i))
    else:
        return None
    if include_usage and isinstance(data.get("usage"), dict):
        chunks.append(_event({**base, "choices": [], "usage": data["usage"]}))
    chunks.append(DONE)
    return chunks


def _chat_choice(base: dict[str, Any], choice: dict[str, Any], index: int) -> list[bytes]:
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    assert isinstance(message, dict)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        one = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _event({**base, "choices": [one]})

    chunks = [chunk({"role": message.get("role") or "assistant", "content": ""})]
    content = message.get("content")
    if isinstance(content, str) and content:
        chunks.append(chunk({"content": content}))
    calls = message.get("tool_calls")
    for n, call in enumerate(calls if isinstance(calls, list) else []):
        if isinstance(call, dict):
            chunks.append(chunk({"tool_calls": [{"index": n, **call}]}))
    chunks.append(chunk({}, choice.get("finish_reason") or "stop"))
    return chunks


def _refused(raw: bytes) -> bool:
    """A non-null ``refusal`` in any event's delta."""
    if b'"refusal"' not in raw:
        return False
    for line in raw.splitlines():
        if not line.startswith(b"data:") or b'"refusal"' not in line:
            continue
        try:
            event = orjson.loads(line[5:].strip())
        except orjson.JSONDecodeError:
            continue
        for choice in event.get("choices") or [] if isinstance(event, dict) else []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and delta.get("refusal") is not None:
                return True
    return False


def _created(raw: bytes) -> int:
    for line in raw.splitlines():
        if line.startswith(b"data:") and b'"created"' in line:
            try:
                event = orjson.loads(line[5:].strip())
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and isinstance(event.get("created"), int):
                return int(event["created"])
    return int(time.time())


def assemble(endpoint: str, chunks: list[bytes]) -> bytes | None:
    """The JSON answer a complete, successful stream amounts to; None when it must not be kept."""
    raw = b"".join(chunks)
    if raw[:256].lstrip()[:1] == b"{":  # an upstream that answered stream: true with one JSON body
        return raw
    if DONE.strip() not in raw or _refused(raw):
        return None
    parsed = parse_stream(endpoint, chunks)
    if parsed.finish_reason is None or parsed.finish_reason == "content_filter" or len(parsed.texts) > 1:
        return None
    text = parsed.texts[0] if parsed.texts else ""
    choice: dict[str, Any]
    if endpoint == "completions":
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": parsed.finish_reason}
        kind = "text_completion"
    else:
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if parsed.tool_calls:
            message["tool_calls"] = parsed.tool_calls
        elif not text:
            message["content"] = ""
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": parsed.finish_reason}
        kind = "chat.completion"
    answer: dict[str, Any] = {
        "id": parsed.response_id or "cached",
        "object": kind,
        "created": _created(raw),
        "model": parsed.response_model or "",
        "choices": [choice],
    }
    if parsed.usage is not None:
        answer["usage"] = parsed.usage
    return orjson.dumps(answer)
