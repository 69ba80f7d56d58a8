"""A chat completions stream, re-told as Anthropic's Messages API events, as the chunks arrive.

Each chat chunk becomes the Messages events it means, at once (nothing is held back but a
partial SSE line): ``message_start`` on the first chunk; a text delta opens a ``text`` content
block (``content_block_start``) and becomes ``content_block_delta`` / ``text_delta``; a tool call
opens a ``tool_use`` block (its id and name) whose argument fragments become ``input_json_delta``
events; a block is closed (``content_block_stop``) when the next one opens. Block indexes count
up from 0 in the order blocks open. When the upstream stream ends: ``message_delta`` with the
``stop_reason`` (``finish_reason`` mapped as for a complete answer) and the usage (the chat
stream's usage chunk, asked for with ``stream_options.include_usage``; estimated by the injected
counter when the upstream sent none), then ``message_stop``.

A stream that breaks raises ``StreamInterrupted`` out of the iteration, as the provider's does
(an error object inside a chat stream is one too): the gateway records it and ends the client's
stream with Anthropic's ``event: error``. An upstream that answered one JSON body for a stream is
told as the events of that whole answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from llmgate.apis.messages_convert import (
    as_object,
    message_id,
    stop_reason,
    to_message,
    usage_of,
)
from llmgate.errors import StreamInterrupted
from llmgate.protocol.errors import ended_in_error_message, message_in
from llmgate.protocol.message_text import message_text
from llmgate.providers.base import UpstreamStream

__all__ = ["MessagesFromChat", "event"]

#: estimates (input, output) tokens when the upstream reported no usage: (the text the model said)
Estimate = Callable[[str], tuple[int, int]]


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class _Teller:
    """The state of one translated stream: which blocks are open, what was said, how it ended."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.started = False
        self.open: int | None = None  # the block index open now
        self.open_kind: str | int | None = None  # "text", or the chat index of the tool call
        self.next_index = 0
        self.tools: dict[int, int] = {}  # chat tool-call index -> block index
        self.finish: Any = None
        self.usage: dict[str, int] | None = None
        self.said: list[str] = []  # text and tool arguments, for an estimate without usage

    def start(self, chunk: dict[str, Any]) -> list[bytes]:
        if self.started:
            return []
        self.started = True
        model = chunk.get("model") if isinstance(chunk.get("model"), str) else self.model
        message: dict[str, Any] = {
            "id": message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [event("message_start", {"type": "message_start", "message": message})]

    def _close(self) -> list[bytes]:
        if self.open is None:
            return []
        index, self.open, self.open_kind = self.open, None, None
        return [event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _open(self, kind: str | int, block: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self.open, self.open_kind = self.next_index, kind
        self.next_index += 1
        start = {"type": "content_block_start", "index": self.open, "content_block": block}
        return [*out, event("content_block_start", start)]

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    def text(self, text: str) -> list[bytes]:
        out = [] if self.open_kind == "text" else self._open("text", {"type": "text", "text": ""})
        self.said.append(text)
        assert self.open is not None
        return [*out, self._delta(self.open, {"type": "text_delta", "text": text})]

    def tool_call(self, call: dict[str, Any]) -> list[bytes]:
        index = call.get("index", 0)
        index = index if isinstance(index, int) else 0
        function = as_object(call.get("function"))
        out: list[bytes] = []
        if index not in self.tools:
            tool_id = call.get("id") or f"toolu_{index}"
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": tool_id,
                "name": str(function.get("name") or ""),
            }
            block["input"] = {}
            out = self._open(index, block)
            assert self.open is not None
            self.tools[index] = self.open
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            self.said.append(arguments)
            out.append(
                self._delta(self.tools[index], {"type": "input_json_delta", "partial_json": arguments})
            )
        return out

    def chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        if "error" in chunk and not chunk.get("choices"):
            raise StreamInterrupted(ended_in_error_message(message_in(chunk)))
        out = self.start(chunk)
        if isinstance(chunk.get("usage"), dict):
            self.usage = usage_of(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = as_object(choice.get("delta"))
            content = delta.get("content")
            text = content if isinstance(content, str) else message_text(content)
            if text:
                out += self.text(text)
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    out += self.tool_call(call)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return out

    def end(self, estimate: Estimate) -> list[bytes]:
        out = self.start({}) + self._close()
        usage = self.usage
        if usage is None:
            input_tokens, output_tokens = estimate("".join(self.said))
            usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
        delta = {"stop_reason": stop_reason(self.finish, bool(self.tools)), "stop_sequence": None}
        out.append(event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        out.append(event("message_stop", {"type": "message_stop"}))
        return out


def message_events(message: dict[str, Any]) -> list[bytes]:
    """The events of a whole ``message`` (for an upstream that answered a stream with one body)."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    out = [event("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            opened: dict[str, Any] = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            opened = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": orjson.dumps(block["input"]).decode()}
        out.append(
            event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opened},
            )
        )
        out.append(
            event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        )
        out.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    final = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    out.append(event("message_delta", {"type": "message_delta", "delta": final, "usage": message["usage"]}))
    out.append(event("message_stop", {"type": "message_stop"}))
    return out


class MessagesFromChat:
    """An ``UpstreamStream`` of Messages events over a chat completions stream."""

    def __init__(self, inner: UpstreamStream, model: str, estimate: Estimate) -> None:
        self._inner = inner
        self._model = model
        self._estimate = estimate
        self.status = 200
        self.content_type = "text/event-stream"
        self.headers = dict(inner.headers)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        teller = _Teller(self._model)
        pending = b""
        whole: list[bytes] | None = None  # the chunks of an answer that is one JSON body
        async for chunk in self._inner:
            if whole is not None or (not teller.started and not pending and chunk.lstrip()[:1] == b"{"):
                whole = [*(whole or []), chunk]
                continue
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            out = [piece for line in lines for piece in self._line(teller, line)]
            if out:
                yield b"".join(out)
        if whole is not None:
            yield b"".join(self._whole(b"".join(whole)))
            return
        out = [*self._line(teller, pending), *teller.end(self._estimate)]
        yield b"".join(out)

    def _line(self, teller: _Teller, line: bytes) -> list[bytes]:
        if not line.startswith(b"data:"):
            return []
        payload = line[5:].strip()
        if not payload or payload == b"[DONE]":
            return []
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return []
        return teller.chunk(chunk) if isinstance(chunk, dict) else []

    def _whole(self, body: bytes) -> list[bytes]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise StreamInterrupted("the upstream answered a stream with a body that is not JSON") from exc
        message, had_usage = to_message(data if isinstance(data, dict) else {}, self._model)
        if not had_usage:
            said = "".join(b.get("text", "") for b in message["content"])
            message["usage"] = dict(zip(("input_tokens", "output_tokens"), self._estimate(said), strict=True))
        return message_events(message)

    async def aclose(self) -> None:
        await self._inner.aclose()
