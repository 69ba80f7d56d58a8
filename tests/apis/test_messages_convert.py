"""Anthropic's Messages API to chat completions and back (``apis/messages_convert.py``), and a chat
stream re-told as Messages events (``apis/messages_stream.py``)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from llmgate.apis.messages_convert import to_chat, to_message
from llmgate.apis.messages_stream import MessagesFromChat
from llmgate.errors import StreamInterrupted

TOOL: Any = {"name": "lookup", "description": "Look it up", "input_schema": {"type": "object"}}


def test_a_conversation_with_tools_images_and_results_becomes_chat() -> None:
    body: Any = {
        "model": "gpt-4o-mini",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in it?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAA"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "cat"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a cat"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True},
                    {"type": "text", "text": "And so?"},
                ],
            },
        ],
        "tools": [TOOL, {"type": "web_search_20250305", "name": "web_search"}],
        "tool_choice": {"type": "tool", "name": "lookup", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "top_k": 5,
        "stream": True,
    }
    before = copy.deepcopy(body)
    chat = to_chat(body)
    assert body == before  # the client's body (the record's request) is left as it was
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in it?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q":"cat"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "a cat"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "error"},
        {"role": "user", "content": "And so?"},
    ]
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {"name": "lookup", "description": "Look it up", "parameters": {"type": "object"}},
        }
    ]  # the server tool has no place in chat
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert chat["parallel_tool_calls"] is False
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert "thinking" not in chat and "top_k" not in chat and chat["max_tokens"] == 64


def test_a_chat_answer_becomes_a_message() -> None:
    chat = {
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini-2024",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Looking.",
                    "tool_calls": [
                        {"id": "call_1", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 10},
        },
    }
    message, had_usage = to_message(chat, "gpt-4o-mini")
    assert had_usage and message["id"] == "msg_chatcmpl-1" and message["model"] == "gpt-4o-mini-2024"
    assert message["content"] == [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "x"}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {
        "input_tokens": 20,
        "output_tokens": 7,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 10,
    }


@pytest.mark.parametrize(
    ("finish", "stop"), [("stop", "end_turn"), ("length", "max_tokens"), (None, "end_turn")]
)
def test_stop_reasons(finish: str | None, stop: str) -> None:
    chat = {"choices": [{"index": 0, "finish_reason": finish, "message": {"content": "hi"}}]}
    message, had_usage = to_message(chat, "m")
    assert message["stop_reason"] == stop and not had_usage and message["id"].startswith("msg_")


class FakeStream:
    """A provider's stream: these chunks, then (optionally) a break."""

    def __init__(self, chunks: list[bytes], fail: bool = False) -> None:
        self.chunks, self.fail, self.closed = chunks, fail, False
        self.status, self.content_type, self.headers = 200, "text/event-stream", {"x-request-id": "r1"}

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.fail:
            raise StreamInterrupted("cut")

    async def aclose(self) -> None:
        self.closed = True


def sse(*events: Any) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.strip().split(b"\n\n"):
        name, data = block.split(b"\n", 1)
        out.append((name.removeprefix(b"event: ").decode(), orjson.loads(data.removeprefix(b"data: "))))
    return out


async def told(inner: FakeStream) -> list[tuple[str, dict[str, Any]]]:
    stream = MessagesFromChat(inner, "m", lambda said: (100, len(said)))
    raw = b"".join([piece async for piece in stream])
    await stream.aclose()
    assert inner.closed and stream.headers == {"x-request-id": "r1"}
    return events(raw)


async def test_a_chat_stream_split_anywhere_is_told_as_messages_events() -> None:
    call = {"index": 0, "id": "call_9", "function": {"name": "lookup", "arguments": '{"q":'}}
    raw = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({"tool_calls": [call]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "x"}'}}]}),
        chunk({}, "tool_calls"),
        {"id": "c1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}},
    )
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]  # SSE lines cut mid-way
    told_events = await told(FakeStream(pieces))
    names = [name for name, _ in told_events]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert told_events[1][1]["content_block"] == {"type": "text", "text": ""}
    assert told_events[5][1] == {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "call_9", "name": "lookup", "input": {}},
    }
    partial = "".join(
        d["delta"]["partial_json"] for n, d in told_events if d.get("index") == 1 and n.endswith("delta")
    )
    assert orjson.loads(partial) == {"q": "x"}
    final = told_events[-2][1]
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"] == {
        "input_tokens": 9,
        "output_tokens": 4,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


async def test_a_stream_without_usage_is_estimated() -> None:
    told_events = await told(FakeStream([sse(chunk({"content": "four"}), chunk({}, "length"))]))
    final = told_events[-2][1]
    assert final["delta"]["stop_reason"] == "max_tokens"
    assert final["usage"] == {"input_tokens": 100, "output_tokens": 4}  # the injected estimate


async def test_one_json_body_for_a_stream_is_told_whole() -> None:
    body = {"id": "c2", "choices": [{"index": 0, "message": {"content": "Whole"}, "finish_reason": "stop"}]}
    told_events = await told(FakeStream([orjson.dumps(body)]))
    assert told_events[0][0] == "message_start" and told_events[2][1]["delta"]["text"] == "Whole"
    assert told_events[-2][1]["usage"] == {"input_tokens": 100, "output_tokens": 5}


async def test_a_broken_chat_stream_raises_for_the_gateway() -> None:
    stream = MessagesFromChat(
        FakeStream([sse(chunk({"content": "Hi"}))[:-14]], fail=True), "m", lambda s: (0, 0)
    )
    with pytest.raises(StreamInterrupted):
        async for _ in stream:
            pass
    error = sse({"error": {"message": "overloaded", "type": "server_error"}})
    with pytest.raises(StreamInterrupted, match="overloaded"):
        async for _ in MessagesFromChat(FakeStream([error]), "m", lambda s: (0, 0)):
            pass
