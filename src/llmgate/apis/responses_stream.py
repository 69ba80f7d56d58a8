"""A streamed chat completion as the Responses API's typed events, as the chunks arrive.

The client gets what OpenAI sends: ``response.created`` and ``response.in_progress`` first; for the
text, ``response.output_item.added`` (a ``message``), ``response.content_part.added``, one
``response.output_text.delta`` per chunk, then ``response.output_text.done``,
``response.content_part.done`` and ``response.output_item.done``; for each tool call,
``response.output_item.added`` (a ``function_call``), ``response.function_call_arguments.delta`` per
chunk, ``...arguments.done`` and ``response.output_item.done``; last ``response.completed`` (or
``response.incomplete``) with the whole response and its usage. Every event carries the next
``sequence_number``; items are numbered by ``output_index`` in the order they start, content parts
by ``content_index``.

The chat stream is read line by line across chunk boundaries; the events one chunk produces are
sent as one chunk. If the upstream breaks mid-way, ``ResponsesStreamCut`` says how many events
were sent, so the gateway's error event follows them in sequence. ``on_complete`` is given the
finished response (to keep it for ``previous_response_id``) before its last event is sent.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from llmgate.apis.responses_reply import (
    as_dict,
    function_call_item,
    message_item,
    new_id,
    response_object,
    status_of,
    usage,
)
from llmgate.errors import StreamInterrupted
from llmgate.protocol.responses_wire import ResponsesStreamCut, sse_event
from llmgate.providers.base import UpstreamStream

__all__ = ["ChatToResponses", "ResponsesEventStream"]


class ChatToResponses:
    """The state of one translation: feed it chat chunks (parsed), take the events to send."""

    def __init__(self, request: dict[str, Any], response_id: str, model: str) -> None:
        self._request = request
        self.response_id = response_id
        self._model = model
        self._created = int(time.time())
        self.sequence = 0
        self._output: list[dict[str, Any]] = []  # finished items, by output_index
        self._text: dict[str, Any] | None = None  # the open message item: id, index, pieces
        self._calls: dict[int, dict[str, Any]] = {}  # open function calls by chat tool-call index
        self._finish: str | None = None
        self._usage: Any = None

    def _event(self, payload: dict[str, Any]) -> bytes:
        payload["sequence_number"] = self.sequence
        self.sequence += 1
        return sse_event(payload)

    def _envelope(self, status: str, output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return response_object(
            self._request,
            response_id=self.response_id,
            created_at=self._created,
            model=self._model,
            output=output,
            status=status,
            **extra,
        )

    def start(self) -> bytes:
        shell = self._envelope("in_progress", [])
        return self._event({"type": "response.created", "response": shell}) + self._event(
            {"type": "response.in_progress", "response": shell}
        )

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """The events for one chat chunk."""
        out = b""
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            self._model = chunk["model"]
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = as_dict(choice.get("delta"))
            content = delta.get("content")
            if isinstance(content, str) and content:
                out += self._text_delta(content)
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    out += self._call_delta(call)
            if isinstance(choice.get("finish_reason"), str):
                self._finish = choice["finish_reason"]
        return out

    def _index(self) -> int:
        return len(self._output) + (self._text is not None) + len(self._calls)

    def _text_delta(self, content: str) -> bytes:
        out = b""
        if self._text is None:
            out += self._close_calls()
            item_id, index = new_id("msg"), self._index()
            self._text = {"id": item_id, "index": index, "pieces": []}
            item = message_item(item_id, None, None, "in_progress")
            out += self._event({"type": "response.output_item.added", "output_index": index, "item": item})
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out += self._event(
                {
                    "type": "response.content_part.added",
                    "item_id": item_id,
                    "output_index": index,
                    "content_index": 0,
                    "part": part,
                }
            )
        self._text["pieces"].append(content)
        return out + self._event(
            {
                "type": "response.output_text.delta",
                "item_id": self._text["id"],
                "output_index": self._text["index"],
                "content_index": 0,
                "delta": content,
                "logprobs": [],
            }
        )

    def _close_text(self) -> bytes:
        if self._text is None:
            return b""
        open_text, self._text = self._text, None
        item_id, index, text = open_text["id"], open_text["index"], "".join(open_text["pieces"])
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        item = message_item(item_id, text, None, "completed")
        self._output.append(item)
        return (
            self._event({"type": "response.output_text.done", **where, "text": text, "logprobs": []})
            + self._event({"type": "response.content_part.done", **where, "part": part})
            + self._event({"type": "response.output_item.done", "output_index": index, "item": item})
        )

    def _call_delta(self, call: dict[str, Any]) -> bytes:
        out = b""
        slot = call.get("index", 0)
        function = as_dict(call.get("function"))
        if slot not in self._calls:
            out += self._close_text()
            item_id, index = new_id("fc"), self._index()
            name = str(function.get("name") or "")
            call_id = str(call.get("id") or new_id("call"))
            self._calls[slot] = {"id": item_id, "index": index, "call_id": call_id, "name": name}
            self._calls[slot]["arguments"] = []
            item = function_call_item(item_id, call_id, name, "", "in_progress")
            out += self._event({"type": "response.output_item.added", "output_index": index, "item": item})
        state = self._calls[slot]
        if function.get("name") and not state["name"]:
            state["name"] = str(function["name"])
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            state["arguments"].append(arguments)
            out += self._event(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": state["id"],
                    "output_index": state["index"],
                    "delta": arguments,
                }
            )
        return out

    def _close_calls(self) -> bytes:
        out = b""
        for slot in sorted(self._calls, key=lambda s: self._calls[s]["index"]):
            state = self._calls[slot]
            arguments = "".join(state["arguments"])
            item = function_call_item(state["id"], state["call_id"], state["name"], arguments, "completed")
            self._output.append(item)
            out += self._event(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": state["id"],
                    "output_index": state["index"],
                    "arguments": arguments,
                }
            )
            out += self._event(
                {"type": "response.output_item.done", "output_index": state["index"], "item": item}
            )
        self._calls = {}
        return out

    def finish(self) -> tuple[bytes, dict[str, Any]]:
        """The closing events, and the finished response they carry."""
        out = self._close_text() + self._close_calls()
        status, incomplete = status_of(self._finish)
        # only text or only calls are open at a time, so items close in the order they opened
        response = self._envelope(status, list(self._output), incomplete=incomplete, usage=usage(self._usage))
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._event({"type": kind, "response": response}), response


def _chat_events(buffer: bytearray) -> list[dict[str, Any] | None]:
    """Take the complete ``data:`` lines out of ``buffer``: their JSON (None for ``[DONE]``)."""
    events: list[dict[str, Any] | None] = []
    while True:
        end = buffer.find(b"\n")
        if end < 0:
            return events
        line = bytes(buffer[:end]).strip()
        del buffer[: end + 1]
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            events.append(None)
            continue
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)


class ResponsesEventStream:
    """An ``UpstreamStream`` of Responses events made from a chat ``UpstreamStream``."""

    content_type = "text/event-stream"

    def __init__(
        self,
        chat: UpstreamStream,
        translation: ChatToResponses,
        on_complete: Callable[[dict[str, Any]], None] | None,
        deployment: str,
    ) -> None:
        self._chat = chat
        self._translation = translation
        self._on_complete = on_complete
        self._deployment = deployment
        self.status = 200
        self.headers = dict(chat.headers)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        translation = self._translation
        yield translation.start()
        buffer = bytearray()
        try:
            async for chunk in self._chat:
                buffer += chunk
                out = b""
                for event in _chat_events(buffer):
                    if event is not None:
                        out += translation.feed(event)
                if out:
                    yield out
        except StreamInterrupted as exc:
            raise ResponsesStreamCut(
                exc.message, deployment=self._deployment, sequence_number=translation.sequence
            ) from exc
        buffer += b"\n"
        last = b"".join(translation.feed(e) for e in _chat_events(buffer) if e is not None)
        if last:  # a last line without its newline
            yield last
        closing, response = translation.finish()
        if self._on_complete is not None:
            self._on_complete(response)
        yield closing

    async def aclose(self) -> None:
        await self._chat.aclose()
