"""A cached answer told as a stream, and a streamed answer kept as the JSON it amounts to.

One entry serves both kinds of request: the cache keeps every answer as OpenAI's complete JSON
body, so a plain request after a streamed one (or a stream after a plain answer) is a hit.

``replay_chunks``: the SSE events of a complete chat or completions answer, the way OpenAI streams
it: a first chunk with the role, the content, the tool calls (whole, one chunk each), a chunk with
the finish reason, a usage chunk when ``stream_options.include_usage`` asked for one, and
``data: [DONE]``. Every choice is told, with its index. ``WholeAnswer`` tells an upstream's answer
the same way when the upstream ignored ``stream`` and answered one JSON body.

``assemble``: a streamed answer as the JSON body it amounts to (``telemetry/answers.py``
``parse_stream`` reads the chunks), or None when it must not be kept: no finish reason (cut,
partial), a ``content_filter`` finish or a refusal, several choices or logprobs (a stream's
reassembly keeps only the first choice's text, tool calls and finish).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from llmgate.errors import StreamInterrupted
from llmgate.protocol.errors import json_object, message_in, saying
from llmgate.protocol.requests import include_usage
from llmgate.providers.base import UpstreamStream
from llmgate.telemetry.answers import parse_stream

__all__ = ["Replayed", "WholeAnswer", "as_events", "assemble", "replay_chunks"]

DONE = b"data: [DONE]\n\n"
#: the endpoints whose complete answers can be told as a stream
TOLD = ("chat/completions", "completions")


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


def replay_chunks(
    endpoint: str, body: bytes, include_usage: bool, *, usage_on_finish: bool = False
) -> list[bytes] | None:
    """The SSE events telling ``body`` (a complete answer of ``endpoint``); None if it cannot be told.

    ``usage_on_finish``: when no usage chunk was asked for, the answer's usage rides on the last
    chunk (which has choices, so a client reading ``chunk.choices[0]`` never meets an empty list),
    for the record to count and price the call from it."""
    data = json_object(body)
    if data is None or not isinstance(data.get("choices"), list):
        return None
    base: dict[str, Any] = {
        "id": data.get("id") or "cached",
        "created": data.get("created") or int(time.time()),
        "model": data.get("model") or "",
    }
    if data.get("system_fingerprint") is not None:
        base["system_fingerprint"] = data["system_fingerprint"]
    events: list[dict[str, Any]] = []
    choices = [c for c in data["choices"] if isinstance(c, dict)]
    if endpoint == "completions":
        base["object"] = "text_completion"
        for i, choice in enumerate(choices):
            index = choice.get("index", i)
            text = {"index": index, "text": choice.get("text") or "", "logprobs": None, "finish_reason": None}
            events.append({**base, "choices": [text]})
            end = {"index": index, "text": "", "logprobs": None, "finish_reason": choice.get("finish_reason")}
            events.append({**base, "choices": [end]})
    elif endpoint == "chat/completions":
        base["object"] = "chat.completion.chunk"
        for i, choice in enumerate(choices):
            events += _chat_choice(base, choice, choice.get("index", i))
    else:
        return None
    usage = data.get("usage")
    if include_usage and isinstance(usage, dict):
        events.append({**base, "choices": [], "usage": usage})
    elif usage_on_finish and isinstance(usage, dict) and events:
        events[-1]["usage"] = usage
    return [*map(_event, events), DONE]


def _chat_choice(base: dict[str, Any], choice: dict[str, Any], index: int) -> list[dict[str, Any]]:
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    assert isinstance(message, dict)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        one = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [one]}

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


def as_events(stream: UpstreamStream, endpoint: str, request: Mapping[str, Any]) -> UpstreamStream:
    """``stream`` as the client gets it: a chat or completions answer that came as one JSON body
    told as events (``WholeAnswer``), anything else as it came."""
    if endpoint in TOLD and "json" in (stream.content_type or ""):
        return WholeAnswer(stream, endpoint, include_usage(request))
    return stream


class WholeAnswer:
    """An upstream that answered a chat or completions stream request with one complete JSON body
    (some OpenAI-compatible servers ignore ``stream``), told to the client as the stream it asked
    for: its SDK reads events, and one JSON body is no event at all. The usage rides on the last
    chunk unless a usage chunk was asked for, so the record keeps the upstream's exact figures."""

    content_type = "text/event-stream"

    def __init__(self, stream: UpstreamStream, endpoint: str, include_usage: bool) -> None:
        self._stream, self._endpoint, self._include_usage = stream, endpoint, include_usage
        self.status, self.headers = stream.status, stream.headers

    async def __aiter__(self) -> AsyncIterator[bytes]:
        parts = [part async for part in self._stream]
        body = b"".join(parts)
        chunks = replay_chunks(self._endpoint, body, self._include_usage, usage_on_finish=True)
        if chunks is None:  # not a completion: an error object sent with a 200, say
            data = json_object(body)
            said = message_in(data) if data is not None else None
            raise StreamInterrupted(
                saying("the upstream answered the stream with one JSON body that is not a completion", said)
            )
        for chunk in chunks:
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


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
