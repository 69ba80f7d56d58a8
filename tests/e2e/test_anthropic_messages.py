"""Anthropic's Messages API (``/v1/messages``, ``/v1/messages/count_tokens``) through the official
``anthropic`` SDK: passed through to an Anthropic deployment (a fake Anthropic on loopback),
translated for an OpenAI-compatible one (``FakeUpstream``), falling back from one to the other,
with Anthropic's error shapes, and every call recorded once with its tokens, cost and latency."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from llmgate.store.records import get_record
from support.configs import MASTER_KEY
from support.fake_anthropic import FakeAnthropic
from support.gateway import RunningGateway
from support.keys import add_key
from support.upstream import FakeUpstream, Fault

PRICES = {  # per token, as litellm_params
    "input_cost_per_token": "0.000003",
    "output_cost_per_token": "0.000015",
    "cache_read_input_token_cost": "0.0000003",
    "cache_creation_input_token_cost": "0.00000375",
}
WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}


@pytest.fixture(scope="module")
def fake_claude() -> Iterator[FakeAnthropic]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeAnthropic()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture(scope="module")
def chat_upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(
    fake_claude: FakeAnthropic, chat_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    claude = {
        "model": "anthropic/claude-sonnet-4-5",
        "api_base": fake_claude.base_url,
        "api_key": "sk-ant-secret",
    }
    gpt = {
        "model": "openai/gpt-4o-mini",
        "api_base": chat_upstream.base_url,
        "api_key": "sk-upstream-secret-key",
    }
    config = {
        "model_list": [
            {"model_name": "claude", "litellm_params": {**claude, **PRICES}},
            {"model_name": "claude-flaky", "litellm_params": claude},
            {"model_name": "gpt", "litellm_params": {**gpt, **PRICES}},
            {"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}},
        ],
        "router_settings": {"num_retries": 0, "fallbacks": [{"claude-flaky": ["gpt"]}], "allowed_fails": 100},
        "general_settings": {"master_key": MASTER_KEY},
    }
    path: Path = tmp_path_factory.mktemp("messages")
    running = RunningGateway(config, path).start()
    yield running
    for opened in _CLIENTS.values():
        opened.close()
    _CLIENTS.clear()
    running.stop()


@pytest.fixture(autouse=True)
def reset(fake_claude: FakeAnthropic, chat_upstream: FakeUpstream) -> None:
    fake_claude.failure, fake_claude.tool_use, fake_claude.cut_stream_after = None, None, None
    fake_claude.cache_creation_input_tokens = fake_claude.cache_read_input_tokens = 0
    fake_claude.received.clear()
    chat_upstream.received.clear()
    chat_upstream.faults.clear()


_CLIENTS: dict[tuple[str, str | None, str | None], anthropic.Anthropic] = {}


def client(
    gateway: RunningGateway, *, api_key: str | None = MASTER_KEY, auth_token: str | None = None
) -> anthropic.Anthropic:
    """An ``anthropic.Anthropic`` client of the gateway (one per key, closed with the gateway)."""
    key = (gateway.url, api_key, auth_token)
    if key not in _CLIENTS:
        _CLIENTS[key] = anthropic.Anthropic(
            base_url=gateway.url, api_key=api_key, auth_token=auth_token, max_retries=0, timeout=20
        )
    return _CLIENTS[key]


def row(gateway: RunningGateway, request_id: str | None) -> dict[str, Any]:
    assert request_id
    gateway.flush()
    found = get_record(gateway.state.engine, request_id)
    assert found is not None
    return found


def price(input_tokens: int, output_tokens: int, created: int = 0, read: int = 0) -> Decimal:
    return (
        input_tokens * Decimal(PRICES["input_cost_per_token"])
        + output_tokens * Decimal(PRICES["output_cost_per_token"])
        + created * Decimal(PRICES["cache_creation_input_token_cost"])
        + read * Decimal(PRICES["cache_read_input_token_cost"])
    )


# --- to an Anthropic deployment: passed through ----------------------------------------------------


def test_native_create_passes_the_body_through_and_prices_the_cache(
    gateway: RunningGateway, fake_claude: FakeAnthropic
) -> None:
    fake_claude.cache_creation_input_tokens, fake_claude.cache_read_input_tokens = 100, 50
    request: dict[str, Any] = {
        "model": "claude",
        "max_tokens": 2000,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, IMAGE]}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{**WEATHER, "cache_control": {"type": "ephemeral"}}],
    }
    raw = client(gateway).messages.with_raw_response.create(
        **request, extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"}
    )
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == "Hello, world!"
    assert message.usage.cache_creation_input_tokens == 100 and message.usage.cache_read_input_tokens == 50

    sent = fake_claude.received[-1]
    assert sent.path == "/v1/messages"
    assert {**sent.body, "model": "claude"} == request  # unchanged but for the model
    assert sent.body["model"] == "claude-sonnet-4-5"
    assert sent.headers["x-api-key"] == "sk-ant-secret"
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert sent.headers["anthropic-version"] == raw.http_request.headers["anthropic-version"]  # the client's
    assert "authorization" not in sent.headers

    record = row(gateway, raw.headers.get("x-llmgate-request-id"))
    assert (record["endpoint"], record["status"], record["provider"]) == ("messages", "success", "anthropic")
    assert (record["prompt_tokens"], record["completion_tokens"], record["cached_tokens"]) == (162, 5, 50)
    assert not record["tokens_estimated"] and record["response_text"] == "Hello, world!"
    assert Decimal(str(record["cost_usd"])) == price(12, 5, created=100, read=50)
    assert record["latency_ms"] > 0 and orjson.loads(record["request_json"])["thinking"]


def test_native_stream_forwards_anthropics_events(
    gateway: RunningGateway, fake_claude: FakeAnthropic
) -> None:
    fake_claude.tool_use = {"id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}
    fake_claude.cache_read_input_tokens = 8
    request: dict[str, Any] = {
        "model": "claude",
        "max_tokens": 100,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }
    with client(gateway).messages.stream(**request) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers.get("x-llmgate-request-id")
    assert text == "Hello, world!" and final.stop_reason == "tool_use"
    tool = final.content[-1]
    assert tool.type == "tool_use" and tool.input == {"city": "Paris"}
    assert fake_claude.received[-1].body["stream"] is True

    events = [e.type for e in client(gateway).messages.create(**request, stream=True)]
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    assert events.count("content_block_start") == 2

    record = row(gateway, request_id)
    assert record["endpoint"] == "messages" and record["stream"] and record["ttft_ms"] is not None
    assert (record["prompt_tokens"], record["completion_tokens"], record["cached_tokens"]) == (20, 5, 8)
    assert record["finish_reason"] == "tool_use" and "Paris" in record["tool_calls_json"]
    assert Decimal(str(record["cost_usd"])) == price(12, 5, read=8)


def test_native_upstream_errors_keep_anthropics_body(
    gateway: RunningGateway, fake_claude: FakeAnthropic
) -> None:
    fake_claude.failure = "bad_request"
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gateway).messages.create(
            model="claude", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 400
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "messages.1.content: Field required"},
    }


# --- to an OpenAI-compatible deployment: translated ---------------------------------------------------


def test_translated_tool_round_trip(gateway: RunningGateway, chat_upstream: FakeUpstream) -> None:
    claude_client = client(gateway)
    question: Any = {"role": "user", "content": "Weather in Paris?"}
    first = claude_client.messages.with_raw_response.create(
        model="gpt",
        max_tokens=300,
        system="You are terse.",
        messages=[question],
        tools=[WEATHER],
        tool_choice={"type": "any"},
        stop_sequences=["END"],
        metadata={"user_id": "user-42"},
        extra_body={"temperature": 0.5},  # this SDK's create() no longer names it
    )
    reply = first.parse()
    assert reply.type == "message" and reply.stop_reason == "tool_use"
    call = reply.content[-1]
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == {"city": "Paris"}
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    sent = chat_upstream.received[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    assert sent.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER["input_schema"],
            },
        }
    ]
    assert (sent.body["tool_choice"], sent.body["stop"], sent.body["user"]) == (
        "required",
        ["END"],
        "user-42",
    )
    assert (sent.body["max_tokens"], sent.body["temperature"], sent.body["model"]) == (
        300,
        0.5,
        "gpt-4o-mini",
    )

    result: Any = {
        "type": "tool_result",
        "tool_use_id": call.id,
        "content": [{"type": "text", "text": "Sunny"}],
    }
    second = claude_client.messages.create(
        model="gpt",
        max_tokens=300,
        messages=[
            question,
            {"role": "assistant", "content": reply.content},
            {"role": "user", "content": [result]},
        ],
        tools=[WEATHER],
        tool_choice={"type": "none"},
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text" and second.content[0].text.startswith("Upstream says")
    messages = chat_upstream.received[-1].body["messages"]
    assert messages[1]["role"] == "assistant" and messages[1]["content"] is None
    assert messages[1]["tool_calls"] == [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert messages[2] == {"role": "tool", "tool_call_id": call.id, "content": "Sunny"}

    record = row(gateway, first.headers.get("x-llmgate-request-id"))
    assert (record["endpoint"], record["provider"], record["user"]) == ("messages", "openai", "user-42")
    assert record["prompt_tokens"] == reply.usage.input_tokens
    assert Decimal(str(record["cost_usd"])) == price(reply.usage.input_tokens, reply.usage.output_tokens)


def test_translated_stream(gateway: RunningGateway, chat_upstream: FakeUpstream) -> None:
    request: dict[str, Any] = {
        "model": "gpt",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi there"}]}],
    }
    with client(gateway).messages.stream(**request) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers.get("x-llmgate-request-id")
    assert text == "Upstream says: Hi there" and final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens == 4
    assert chat_upstream.received[-1].body["stream_options"] == {"include_usage": True}

    events = list(client(gateway).messages.create(**request, tools=[WEATHER], stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    starts = [e for e in events if e.type == "content_block_start"]
    assert [(e.index, e.content_block.type) for e in starts] == [(0, "text"), (1, "tool_use")]
    arguments = "".join(
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    )
    assert orjson.loads(arguments) == {"city": "Paris"}
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.delta.stop_reason == "tool_use"

    record = row(gateway, request_id)
    assert record["endpoint"] == "messages" and record["stream"] and record["response_text"] == text
    assert (record["prompt_tokens"], record["completion_tokens"]) == (final.usage.input_tokens, 4)
    assert not record["tokens_estimated"]


def test_the_mock_provider_answers_a_messages_client(gateway: RunningGateway) -> None:
    ask: Any = {"model": "mock-echo", "max_tokens": 50, "messages": [{"role": "user", "content": "echo me"}]}
    reply = client(gateway).messages.create(**ask)
    assert reply.content[0].type == "text" and "echo me" in reply.content[0].text
    with client(gateway).messages.stream(**ask) as stream:
        assert "echo me" in "".join(stream.text_stream)
        assert stream.get_final_message().stop_reason == "end_turn"


# --- count_tokens ---------------------------------------------------------------------------------


def test_count_tokens(gateway: RunningGateway, fake_claude: FakeAnthropic) -> None:
    claude_client = client(gateway)
    messages: Any = [{"role": "user", "content": "How many tokens is this?"}]
    native = claude_client.messages.with_raw_response.count_tokens(model="claude", messages=messages)
    assert native.parse().input_tokens == 42
    assert fake_claude.received[-1].path == "/v1/messages/count_tokens"
    translated = claude_client.messages.with_raw_response.count_tokens(
        model="gpt", system="Be brief.", messages=messages
    )
    counted = translated.parse().input_tokens
    assert 10 < counted < 40
    for raw in (native, translated):
        record = row(gateway, raw.headers.get("x-llmgate-request-id"))
        assert (record["endpoint"], record["status"], Decimal(str(record["cost_usd"]))) == (
            "messages/count_tokens",
            "success",
            Decimal(0),
        )


# --- keys and errors --------------------------------------------------------------------------------


def test_keys_the_anthropic_way_or_as_bearer(gateway: RunningGateway) -> None:
    virtual, _ = add_key(gateway.state.engine, "claude-app")
    ask: Any = {"model": "gpt", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    assert client(gateway, api_key=virtual).messages.create(**ask).type == "message"  # x-api-key
    bearer = client(gateway, api_key=None, auth_token=MASTER_KEY)  # Authorization: Bearer
    assert bearer.messages.create(**ask).type == "message"
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client(gateway, api_key="sk-wrong").messages.create(**ask)
    assert caught.value.status_code == 401
    assert caught.value.body["type"] == "error"  # type: ignore[index]
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        ({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}, 400, "invalid_request_error"),
        (
            {"model": "gpt", "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]},
            400,
            "invalid_request_error",
        ),
        ({"model": "gpt", "max_tokens": 5, "messages": []}, 400, "invalid_request_error"),
        (
            {"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
            404,
            "not_found_error",
        ),
    ],
)
def test_errors_in_anthropics_shape(gateway: RunningGateway, body: Any, status: int, error_type: str) -> None:
    for path in ("/v1/messages", "/messages"):
        response = gateway.post(path, json=body, headers={"x-api-key": MASTER_KEY})
        assert response.status_code == status
        data = response.json()
        assert data["type"] == "error" and data["error"]["type"] == error_type and data["error"]["message"]


# --- across APIs: fallbacks and broken streams --------------------------------------------------------


def test_anthropic_failure_falls_back_to_an_openai_deployment(
    gateway: RunningGateway, fake_claude: FakeAnthropic, chat_upstream: FakeUpstream
) -> None:
    fake_claude.failure = "overloaded"
    ask: Any = {"model": "claude-flaky", "max_tokens": 50, "messages": [{"role": "user", "content": "Hello"}]}
    raw = client(gateway).messages.with_raw_response.create(**ask)
    reply = raw.parse()
    assert reply.type == "message" and reply.content[0].text == "Upstream says: Hello"  # type: ignore[union-attr]
    assert fake_claude.received and chat_upstream.received
    record = row(gateway, raw.headers.get("x-llmgate-request-id"))
    assert (record["status"], record["provider"], record["attempts"]) == ("success", "openai", 2)

    fake_claude.failure = "server_error"
    with client(gateway).messages.stream(**ask) as stream:
        assert "".join(stream.text_stream) == "Upstream says: Hello"


def test_a_stream_cut_midway_ends_with_anthropics_error_event(
    gateway: RunningGateway, fake_claude: FakeAnthropic, chat_upstream: FakeUpstream
) -> None:
    fake_claude.cut_stream_after = 4
    chat_upstream.fail_next(Fault(cut_after=2))
    for model in ("claude", "gpt"):
        ask = {
            "model": model,
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "Hi"}],
        }
        with httpx.stream(
            "POST", gateway.url + "/v1/messages", json=ask, headers={"x-api-key": MASTER_KEY}, timeout=20
        ) as response:
            assert response.status_code == 200
            body = b"".join(response.iter_bytes())
            request_id = response.headers["x-llmgate-request-id"]
        last = body.strip().split(b"\n\n")[-1]
        name, data = last.split(b"\n", 1)
        assert name == b"event: error" and b"message_stop" not in body
        assert orjson.loads(data.removeprefix(b"data: "))["error"]["type"] == "api_error"
        if model == "claude":  # a client that names no version: Anthropic's first
            assert fake_claude.received[-1].headers["anthropic-version"] == "2023-06-01"
        record = row(gateway, request_id)
        assert (record["endpoint"], record["status"], record["error_type"]) == (
            "messages",
            "error",
            "stream_interrupted",
        )
    with pytest.raises(anthropic.APIError):
        fake_claude.cut_stream_after = 4
        list(client(gateway).messages.create(**{**ask, "model": "claude"}))  # type: ignore[call-overload]
