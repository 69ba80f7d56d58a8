"""A Responses API answer as the record reads it: text, function calls, finish, usage in chat's names."""

from __future__ import annotations

from typing import Any

import orjson

from llmgate.telemetry.responses_usage import parse as parse_responses

RESPONSE: dict[str, Any] = {
    "id": "resp_1",
    "model": "gpt-x",
    "status": "completed",
    "output": [
        {"type": "reasoning", "summary": []},
        {
            "type": "message",
            "content": [{"type": "output_text", "text": "Hi"}, {"type": "refusal", "refusal": "no"}],
        },
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ],
    "usage": {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 6,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 16,
    },
}
CHAT_USAGE = {
    "prompt_tokens": 10,
    "completion_tokens": 6,
    "total_tokens": 16,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 2},
}
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
#: what a record reads of RESPONSE: texts, tool calls, finish, usage, id, model, error
READ = (["Hi"], [CALL], "tool_calls", CHAT_USAGE, "resp_1", "gpt-x", None)


def sse(*events: dict[str, Any]) -> list[bytes]:
    return [f"event: {e['type']}\n".encode() + b"data: " + orjson.dumps(e) + b"\n\n" for e in events]


def test_a_plain_answer() -> None:
    assert parse_responses(False, orjson.dumps(RESPONSE), []) == READ
    incomplete = {**RESPONSE, "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    assert parse_responses(False, orjson.dumps(incomplete), [])[2] == "length"
    assert parse_responses(False, b"not json", []) == ([], [], None, None, None, None, None)


def test_a_stream_reads_its_last_event() -> None:
    chunks = sse(
        {"type": "response.created", "response": {"id": "resp_1", "model": "gpt-x"}},
        {"type": "response.output_text.delta", "delta": "H"},
        {"type": "response.completed", "response": RESPONSE},
    )
    whole = b"".join(chunks)
    split = [whole[:37], whole[37:]]  # chunks split anywhere
    assert parse_responses(True, None, split) == READ


def test_a_cut_stream_keeps_what_was_sent() -> None:
    item = {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": "{}"}
    chunks = sse(
        {"type": "response.created", "response": {"id": "resp_1", "model": "gpt-x"}},
        {"type": "response.output_text.delta", "delta": "Hel"},
        {"type": "response.output_text.delta", "delta": "lo"},
        {"type": "response.output_item.done", "item": item},
    )
    assert parse_responses(True, None, chunks) == (["Hello"], [CALL], None, None, "resp_1", "gpt-x", None)


def test_a_stream_that_failed_says_what_the_upstream_said() -> None:
    """``response.failed`` (the last event, its response's ``error``) and a bare ``error`` event."""
    failed = {**RESPONSE, "status": "failed", "error": {"code": "server_error", "message": "It broke."}}
    chunks = sse(
        {"type": "response.created", "response": {"id": "resp_1", "model": "gpt-x"}},
        {"type": "response.failed", "response": failed},
    )
    assert parse_responses(True, None, chunks)[6] == "It broke."
    assert parse_responses(False, orjson.dumps(failed), [])[6] == "It broke."
    bare = sse(
        {"type": "response.output_text.delta", "delta": "Hel"},
        {"type": "error", "code": "server_error", "message": "Overloaded.", "param": None},
    )
    assert parse_responses(True, None, bare)[::6] == (["Hel"], "Overloaded.")
