"""The record of an Anthropic Messages API call (``telemetry/messages_usage.py`` through
``call_record.to_row``): text, tool calls, stop reason, and usage with the prompt cache priced."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from llmgate.config import build_deployments, parse_config
from llmgate.pricing import PriceBook
from llmgate.pricing.prices import Price, Usage, cost
from llmgate.telemetry.call_record import CallRecord, to_row

PRICES = {
    "input_cost_per_token": "0.000003",
    "output_cost_per_token": "0.000015",
    "cache_read_input_token_cost": "0.0000003",
    "cache_creation_input_token_cost": "0.00000375",
}
(CLAUDE,) = build_deployments(
    parse_config(
        {"model_list": [{"model_name": "claude", "litellm_params": {"model": "anthropic/x", **PRICES}}]}
    )
)
REQUEST: dict[str, Any] = {
    "model": "claude",
    "max_tokens": 10,
    "system": "Be brief.",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hi"}]}],
}
USAGE = {
    "input_tokens": 12,
    "output_tokens": 5,
    "cache_creation_input_tokens": 100,
    "cache_read_input_tokens": 50,
}
EXPECTED_COST = (
    12 * Decimal("0.000003")
    + 5 * Decimal("0.000015")
    + 100 * Decimal("0.00000375")
    + 50 * Decimal("0.0000003")
)


def call(**kwargs: Any) -> CallRecord:
    base: dict[str, Any] = {
        "id": "b" * 32,
        "created_at": datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
        "endpoint": "messages",
        "model": "claude",
        "request": REQUEST,
        "stream": False,
        "deployment": CLAUDE,
    }
    return CallRecord(**{**base, **kwargs})


def event(data: dict[str, Any]) -> bytes:
    return b"event: " + data["type"].encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def test_a_message_is_recorded_with_its_cache_tokens_priced() -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "model": "claude-x-1",
        "content": [
            {"type": "text", "text": "Hi"},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "usage": USAGE,
    }
    row = to_row(call(response_body=orjson.dumps(message)), PriceBook({}))
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (162, 5, 167)
    assert row["cached_tokens"] == 50 and not row["tokens_estimated"]
    assert row["cost_usd"] == EXPECTED_COST
    assert row["response_text"] == "Hi" and row["finish_reason"] == "tool_use"
    assert orjson.loads(row["tool_calls_json"]) == [
        {"id": "toolu_1", "type": "tool_use", "name": "f", "input": '{"a":1}'}
    ]
    assert row["prompt_chars"] == len("Say hi")


def test_an_event_stream_is_recorded_from_its_start_and_final_usage() -> None:
    chunks = [
        event(
            {
                "type": "message_start",
                "message": {"id": "msg_2", "model": "m", "usage": {**USAGE, "output_tokens": 1}},
            }
        ),
        event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        event({"type": "ping"}),
        event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
        event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
        event({"type": "content_block_stop", "index": 0}),
        event(
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
            }
        ),
        event(
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"a"'},
            }
        ),
        event(
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": ": 1}"},
            }
        ),
        event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}}),
        event({"type": "message_stop"}),
    ]
    raw = b"".join(chunks)
    split = [raw[i : i + 11] for i in range(0, len(raw), 11)]
    row = to_row(call(stream=True, stream_chunks=split), PriceBook({}))
    assert (row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"]) == (162, 5, 50)
    assert row["cost_usd"] == EXPECTED_COST and row["finish_reason"] == "end_turn"
    assert row["response_text"] == "Hello" and '{\\"a\\": 1}' in row["tool_calls_json"]


def test_without_usage_the_prompt_is_counted_with_its_system_prompt() -> None:
    row = to_row(
        call(response_body=orjson.dumps({"content": [{"type": "text", "text": "Hi"}]})), PriceBook({})
    )
    assert row["tokens_estimated"] and row["prompt_tokens"] > 0 and row["completion_tokens"] == 1
    without_system = to_row(
        call(
            request={**REQUEST, "system": None},
            response_body=orjson.dumps({"content": [{"type": "text", "text": "Hi"}]}),
        ),
        PriceBook({}),
    )
    assert row["prompt_tokens"] > without_system["prompt_tokens"]


def test_count_tokens_is_recorded_free() -> None:
    row = to_row(
        call(endpoint="messages/count_tokens", response_body=orjson.dumps({"input_tokens": 42})),
        PriceBook({}),
    )
    assert row["cost_usd"] == Decimal(0) and row["prompt_tokens"] is None and row["status"] == "success"


def test_quiet_records_keep_no_system_prompt() -> None:
    row = to_row(call(deployment=dataclasses.replace(CLAUDE, log_prompts=False)), PriceBook({}))
    assert "Be brief" not in row["request_json"] and "Say hi" not in row["request_json"]


def test_cache_writes_cost_their_own_price() -> None:
    price = Price(Decimal(3), Decimal(15), cache_read=Decimal("0.3"), cache_creation=Decimal("3.75"))
    assert cost(Usage(162, 5, cached_tokens=50, cache_creation_tokens=100), price) == Decimal(501)
    assert cost(
        Usage(162, 5, cached_tokens=50, cache_creation_tokens=100), Price(Decimal(3), Decimal(15))
    ) == Decimal(162 * 3 + 5 * 15)  # no cache prices: all input at the input price


def test_a_stream_anthropic_ended_with_an_error_event_is_recorded_as_failed() -> None:
    chunks = [
        event({"type": "message_start", "message": {"id": "msg_3", "model": "m", "usage": USAGE}}),
        event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
        event({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ]
    row = to_row(call(stream=True, stream_chunks=chunks, status_code=200), PriceBook({}))
    assert (row["status"], row["status_code"], row["error_type"]) == ("error", 502, "upstream_error")
    assert row["error_message"] == "the upstream ended the stream with an error: Overloaded"
    assert row["response_text"] == "Hel" and row["prompt_tokens"] == 162  # what it cost so far
    whole = to_row(call(stream=True, stream_chunks=chunks[:3], status_code=200), PriceBook({}))
    assert whole["status"] == "success"  # cut without an event: the gateway's own doing says so
