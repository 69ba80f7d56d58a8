"""The Responses API ↔ chat completions translation: requests, complete answers, streamed events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llmgate.apis.responses_reply import from_chat, usage
from llmgate.apis.responses_request import UnsupportedRequest, input_items, to_chat
from llmgate.apis.responses_stream import ChatToResponses


def chat_of(body: dict[str, Any], history: list[dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    return to_chat(body, [*(history or []), *input_items(body)], **kw)


def test_a_string_input_with_instructions_and_parameters() -> None:
    body = {
        "model": "m",
        "input": "hi",
        "instructions": "Be brief.",
        "max_output_tokens": 99,
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "u",
        "metadata": {"k": "v"},
        "store": True,
        "reasoning": {"effort": "low"},
        "text": {
            "format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}, "strict": True}
        },
        "stream": True,
    }
    chat = chat_of(body)
    assert chat == {
        "model": "m",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "max_completion_tokens": 99,
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "u",
        "metadata": {"k": "v"},
        "reasoning_effort": "low",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": True},
        },
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert (
        chat_of({"model": "m", "input": "x", "max_output_tokens": 5}, max_tokens_name="max_tokens")[
            "max_tokens"
        ]
        == 5
    )
    assert chat_of({"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}})[
        "response_format"
    ] == {"type": "json_object"}


def test_items_become_messages() -> None:
    items: list[dict[str, Any]] = [
        {"role": "developer", "content": "rules"},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "https://x/cat.png", "detail": "low"},
            ],
        },
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a cat"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "two"}]},
    ]
    assert chat_of({"model": "m", "input": items})["messages"] == [
        {"role": "system", "content": "rules"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": "a cat",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
    ]


def test_tools_and_tool_choice() -> None:
    body = {
        "model": "m",
        "input": "x",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
        "tool_choice": {"type": "function", "name": "f"},
        "parallel_tool_calls": False,
    }
    chat = chat_of(body)
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["parallel_tool_calls"] is False
    assert "parallel_tool_calls" not in chat_of({"model": "m", "input": "x", "parallel_tool_calls": True})
    with pytest.raises(UnsupportedRequest, match="web_search"):
        chat_of({"model": "m", "input": "x", "tools": [{"type": "web_search"}]})


def test_a_complete_answer_becomes_a_response() -> None:
    answer = {
        "id": "chatcmpl-1",
        "created": 7,
        "model": "up",
        "choices": [
            {
                "index": 0,
                "finish_reason": "length",
                "message": {
                    "role": "assistant",
                    "content": "partial",
                    "reasoning_content": "thinking",
                    "tool_calls": [
                        {"id": "c9", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }
    response = from_chat({"model": "m", "input": "x", "instructions": "I"}, answer, "resp_1")
    assert response["id"] == "resp_1" and response["model"] == "up" and response["created_at"] == 7
    assert response["status"] == "incomplete" and response["incomplete_details"] == {
        "reason": "max_output_tokens"
    }
    assert response["instructions"] == "I" and response["store"] is True
    kinds = [item["type"] for item in response["output"]]
    assert kinds == ["reasoning", "message", "function_call"]
    assert response["output"][1]["content"][0]["text"] == "partial"
    assert response["output"][2]["call_id"] == "c9"
    assert response["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 3},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 15,
    }
    assert usage(None) is None


def _events(raw: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line[5:]) for line in raw.splitlines() if line.startswith(b"data:")]


def test_streamed_chunks_become_numbered_events() -> None:
    translation = ChatToResponses({"model": "m", "input": "x"}, "resp_s", "m")
    raw = translation.start()
    raw += translation.feed({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]})
    raw += translation.feed({"choices": [{"index": 0, "delta": {"content": "lo"}}]})
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a"'}}
    raw += translation.feed({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    more = {"index": 0, "function": {"arguments": ":1}"}}
    raw += translation.feed(
        {"choices": [{"index": 0, "delta": {"tool_calls": [more]}, "finish_reason": "tool_calls"}]}
    )
    raw += translation.feed(
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
    )
    closing, response = translation.finish()
    events = _events(raw + closing)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["output_index"] for e in events[2:14]] == [0] * 7 + [1] * 5
    assert events[6]["text"] == "Hello" and events[12]["arguments"] == '{"a":1}'
    assert events[-1]["response"] == response
    assert [item["type"] for item in response["output"]] == ["message", "function_call"]
    assert response["usage"]["input_tokens"] == 3 and response["status"] == "completed"
