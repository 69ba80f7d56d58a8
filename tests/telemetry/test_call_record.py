"""From what the request path knew to the stored row: parsing, counting, pricing, redaction."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from llmgate.config import build_deployments, parse_config
from llmgate.pricing import PriceBook
from llmgate.telemetry.answers import parse_stream
from llmgate.telemetry.call_record import CallRecord, call_cost, to_row
from support.configs import PRICED_GPT

CONFIG = {
    "model_list": [
        PRICED_GPT,
        {"model_name": "private", "litellm_params": {"model": "hosted_vllm/secret-sauce-7b"}},
        {"model_name": "quiet", "log_prompts": False, "litellm_params": {"model": "openai/gpt-4o-mini"}},
    ]
}
GPT, PRIVATE, QUIET = build_deployments(parse_config(CONFIG))
REQUEST = {"model": "gpt", "messages": [{"role": "user", "content": "Say hi"}], "api_key": "sk-client-secret"}


def call(**kwargs: Any) -> CallRecord:
    base: dict[str, Any] = {
        "id": "a" * 32,
        "created_at": datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
        "endpoint": "chat/completions",
        "model": "gpt",
        "request": REQUEST,
        "stream": False,
        "deployment": GPT,
    }
    return CallRecord(**{**base, **kwargs})


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


CHUNKS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"choices": [{"index": 0, "delta": {"content": "Hel"}}]},
    {"choices": [{"index": 0, "delta": {"content": "lo!"}}]},
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a"'}}]
                },
            }
        ]
    },
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
]


def test_complete_response_with_usage() -> None:
    body = orjson.dumps(
        {
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "total_tokens": 15,
                "prompt_tokens_details": {"cached_tokens": 4},
            },
        }
    )
    row = to_row(call(response_body=body, latency_ms=12.3456), PriceBook())
    assert row["response_text"] == "Hi!" and row["finish_reason"] == "stop"
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"], row["cached_tokens"]) == (
        10,
        5,
        15,
        4,
    )
    assert row["tokens_estimated"] is False
    assert row["cost_usd"] == Decimal(
        "0.000020"
    )  # cached tokens at the input price: no cache price configured
    assert row["status"] == "success" and row["latency_ms"] == 12.346


def test_stream_split_anywhere_reassembles() -> None:
    raw = sse(CHUNKS)
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]  # cut mid-line, mid-JSON
    parsed = parse_stream("chat/completions", pieces)
    assert parsed.texts == ["Hello!"]
    assert parsed.tool_calls == [
        {"type": "function", "id": "c1", "function": {"name": "f", "arguments": '{"a": 1}'}}
    ]
    assert parsed.finish_reason == "tool_calls"


def test_stream_with_broken_lines_keeps_every_good_event() -> None:
    # One parse of all events at once falls back to line by line when a line is not one JSON value:
    # the broken lines are skipped, every other event is read (two objects on one line are not two).
    good = [
        b'data: {"choices": [{"index": 0, "delta": {"content": "He"}}]}',
        b'data: {"choices": [{"index": 0, "delta": {"content": "llo"}}]}',
    ]
    for bad in (
        b"data: {not json",
        b'data: {"choices": [{"index": 0, "delta": {"content": "X"}}]}, {"id": "y"}',
    ):
        raw = (
            b"\n\n".join(
                [
                    good[0],
                    bad,
                    good[1],
                    b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}',
                    b"data: [DONE]",
                ]
            )
            + b"\n\n"
        )
        parsed = parse_stream("chat/completions", [raw])
        assert parsed.texts == ["Hello"]
        assert parsed.finish_reason == "stop"
        assert parsed.response_id is None


def test_stream_without_usage_is_estimated() -> None:
    row = to_row(call(stream=True, stream_chunks=[sse(CHUNKS)], ttft_ms=3.0), PriceBook())
    assert row["tokens_estimated"] is True
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"]
    assert row["cost_usd"] > 0 and row["ttft_ms"] == 3.0


@pytest.mark.parametrize(
    ("event", "said"),
    [
        (
            {
                "error": {
                    "message": "The server is overloaded (key sk-live-0123456789abcdefghij)",
                    "type": "server_error",
                }
            },
            "The server is overloaded (key [redacted])",
        ),
        ({"error": "upstream worker died"}, "upstream worker died"),
        ({"error": {"type": "server_error"}}, ""),
    ],
)
def test_a_stream_the_upstream_ended_with_an_error_event_is_an_error(
    event: dict[str, Any], said: str
) -> None:
    """HTTP said 200 and the SDK raised at the error event: the record says failed, not success,
    keeps what was delivered and what it cost, and no secret the upstream echoed."""
    chunks = [sse(CHUNKS[:3])[: -len(b"data: [DONE]\n\n")] + sse([event])[: -len(b"data: [DONE]\n\n")]]
    row = to_row(call(stream=True, stream_chunks=chunks, status_code=200), PriceBook())
    assert (row["status"], row["status_code"], row["error_type"]) == ("error", 502, "upstream_error")
    ended = "the upstream ended the stream with an error"
    assert row["error_message"].startswith(f"{ended}: {said}" if said else ended)
    assert "sk-live" not in row["error_message"]
    assert row["response_text"] == "Hello!" and row["finish_reason"] is None
    assert row["completion_tokens"] > 0 and row["cost_usd"] > 0


def test_null_errors_in_events_and_earlier_failures_are_left_as_they_are() -> None:
    fine = [{**event, "error": None} for event in CHUNKS]
    assert to_row(call(stream=True, stream_chunks=[sse(fine)]), PriceBook())["status"] == "success"
    cut = call(
        stream=True,
        stream_chunks=[sse([{"error": {"message": "x"}}])],
        status_code=499,
        error_type="client_closed",
        error_message="the client closed the connection",
    )
    row = to_row(cut, PriceBook())
    assert (row["status_code"], row["error_type"]) == (499, "client_closed")


def test_unknown_price_is_flagged_not_zero() -> None:
    body = orjson.dumps(
        {
            "choices": [{"index": 0, "message": {"content": "x"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        }
    )
    row = to_row(call(deployment=PRIVATE, response_body=body), PriceBook())
    assert row["cost_usd"] is None and row["cost_unknown"] is True


def test_failed_call_without_output_costs_nothing() -> None:
    row = to_row(call(status_code=502, error_type="upstream_error", error_message="boom"), PriceBook())
    assert row["status"] == "error" and row["prompt_tokens"] is None
    assert row["cost_usd"] == 0 and row["cost_unknown"] is False


def test_secrets_never_stored_and_log_prompts_false() -> None:
    row = to_row(call(), PriceBook())
    assert "sk-client-secret" not in orjson.dumps(row, default=str).decode()
    quiet = to_row(
        call(
            deployment=QUIET,
            response_body=orjson.dumps({"choices": [{"index": 0, "message": {"content": "secret answer"}}]}),
        ),
        PriceBook(),
    )
    assert "Say hi" not in (quiet["request_json"] or "") and quiet["response_text"] is None
    assert quiet["prompt_hash"] == row["prompt_hash"] and quiet["response_chars"] == len("secret answer")


# --- call_cost: what budgets settle with on the request path is the stored row's cost and total
# tokens, without building the row (priced usage, counted tokens, unknown price, cache hit, failure)

ANSWER = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"}}]}
USAGE = {"prompt_tokens": 1200, "completion_tokens": 345, "total_tokens": 1545}

CASES = {
    "priced usage": call(response_body=orjson.dumps({**ANSWER, "usage": USAGE})),
    "cached prompt tokens": call(
        response_body=orjson.dumps(
            {**ANSWER, "usage": {**USAGE, "prompt_tokens_details": {"cached_tokens": 1024}}}
        )
    ),
    "counted (no usage)": call(response_body=orjson.dumps(ANSWER)),
    "stream, counted": call(stream=True, stream_chunks=[sse(CHUNKS)]),
    "unknown price": call(deployment=PRIVATE, response_body=orjson.dumps({**ANSWER, "usage": USAGE})),
    "cache hit": call(response_body=orjson.dumps({**ANSWER, "usage": USAGE}), cache="hit"),
    "failed": call(status_code=502, error_type="upstream_error", error_message="bad gateway"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_settled_cost_is_the_rows(name: str) -> None:
    record: CallRecord = CASES[name]
    row = to_row(record, PriceBook())
    assert call_cost(record, PriceBook()) == (row["cost_usd"], row["total_tokens"])


def test_the_cases_cover_what_differs() -> None:
    costs = {name: call_cost(record, PriceBook()) for name, record in CASES.items()}
    assert costs["priced usage"][0] is not None and costs["priced usage"][0] > 0
    assert costs["counted (no usage)"][1] and costs["stream, counted"][1]  # tiktoken counted them
    assert costs["unknown price"][0] is None
    assert costs["cache hit"] == (Decimal(0), 1545)
