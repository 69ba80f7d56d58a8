"""The litellm adapter against a fake Anthropic API on loopback: shapes, streams, errors, secrets."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from llmgate.config import Deployment, build_deployments, parse_config
from llmgate.errors import (
    ProviderError,
    RateLimited,
    StreamInterrupted,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.litellm_adapter import LiteLLMProvider, LiteLLMStream, litellm_import_seconds
from support.fake_anthropic import FakeAnthropic

API_KEY = "sk-ant-test"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
WEATHER_CALL = {"id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    server = FakeAnthropic()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def provider() -> AsyncIterator[LiteLLMProvider]:
    p = LiteLLMProvider()
    yield p
    await p.aclose()


def make_deployment(
    api_base: str, *, model: str = "anthropic/claude-sonnet-4-5", api_key: str = API_KEY, **params: Any
) -> Deployment:
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "claude",
                    "litellm_params": {"model": model, "api_base": api_base, "api_key": api_key, **params},
                }
            ]
        }
    )
    return build_deployments(config)[0]


def chat(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello."},
        ],
        "max_tokens": 100,
        **extra,
    }


async def read_stream(stream: LiteLLMStream) -> list[bytes]:
    return [frame async for frame in stream]


def events(frames: list[bytes]) -> list[dict[str, Any]]:
    assert frames[-1] == b"data: [DONE]\n\n"
    parsed = []
    for frame in frames[:-1]:
        assert frame.startswith(b"data: ") and frame.endswith(b"\n\n")
        parsed.append(orjson.loads(frame[len(b"data: ") :]))
    return parsed


# --- non-streaming ----------------------------------------------------------------------------


async def test_chat_completion_is_openai_shaped(fake: FakeAnthropic, provider: LiteLLMProvider) -> None:
    deployment = make_deployment(fake.base_url)
    response = await provider.send(deployment, Endpoint.CHAT, chat(), timeout=5)

    assert response.status == 200
    body = orjson.loads(response.body)
    assert body["object"] == "chat.completion"
    assert body["id"] and isinstance(body["created"], int)
    assert body["model"] == "claude-sonnet-4-5"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello, world!"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"]["prompt_tokens"] == 12
    assert body["usage"]["completion_tokens"] == 5
    assert body["usage"]["total_tokens"] == 17
    assert set(body) <= {"id", "object", "created", "model", "choices", "usage", "system_fingerprint"}
    assert set(body["usage"]) <= {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    }
    assert b"provider_specific_fields" not in response.body
    assert b"_hidden_params" not in response.body


async def test_what_anthropic_receives(fake: FakeAnthropic, provider: LiteLLMProvider) -> None:
    deployment = make_deployment(fake.base_url)
    await provider.send(deployment, Endpoint.CHAT, chat(temperature=0.2), timeout=5)

    [request] = fake.received
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == API_KEY
    assert "anthropic-version" in request.headers
    assert request.body["model"] == "claude-sonnet-4-5"
    assert request.body["system"] == [{"type": "text", "text": "Be brief."}]
    assert request.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}]
    assert request.body["max_tokens"] == 100
    assert request.body["temperature"] == 0.2
    assert "stream" not in request.body


async def test_tool_calls(fake: FakeAnthropic, provider: LiteLLMProvider) -> None:
    fake.tool_use = WEATHER_CALL
    deployment = make_deployment(fake.base_url)
    response = await provider.send(
        deployment, Endpoint.CHAT, chat(tools=TOOLS, tool_choice="auto"), timeout=5
    )

    sent = fake.received[0].body
    assert sent["tools"][0]["name"] == "get_weather"
    assert sent["tools"][0]["input_schema"] == TOOLS[0]["function"]["parameters"]
    assert sent["tool_choice"] == {"type": "auto"}

    choice = orjson.loads(response.body)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_01A"
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris"}


async def test_gateway_metadata_is_not_sent(fake: FakeAnthropic, provider: LiteLLMProvider) -> None:
    """litellm reads ``metadata`` as its own and would send ``metadata.user_id`` to Anthropic."""
    deployment = make_deployment(fake.base_url)
    body = chat(metadata={"user_id": "from-metadata", "team": "blue"})
    await provider.send(deployment, Endpoint.CHAT, body, timeout=5)
    assert "metadata" not in fake.received[0].body


async def test_user_becomes_anthropic_user_id(fake: FakeAnthropic, provider: LiteLLMProvider) -> None:
    deployment = make_deployment(fake.base_url)
    await provider.send(deployment, Endpoint.CHAT, chat(user="alice", metadata={"user_id": "x"}), timeout=5)
    assert fake.received[0].body["metadata"] == {"user_id": "alice"}


async def test_client_cannot_set_litellm_parameters(fake: FakeAnthropic, provider: LiteLLMProvider) -> None:
    deployment = make_deployment(fake.base_url)
    body = chat(
        api_base="http://192.0.2.1:9",
        base_url="http://192.0.2.1:9",
        api_key="sk-client",
        mock_response="not from the upstream",
        litellm_metadata={"a": 1},
        aws_sts_endpoint="http://192.0.2.1:9",
        custom_llm_provider="openai",
        num_retries=5,
    )
    response = await provider.send(deployment, Endpoint.CHAT, body, timeout=5)

    assert orjson.loads(response.body)["choices"][0]["message"]["content"] == "Hello, world!"
    [request] = fake.received
    assert request.headers["x-api-key"] == API_KEY
    assert not {"api_base", "base_url", "api_key", "mock_response", "aws_sts_endpoint"} & set(request.body)


async def test_request_defaults_fill_what_the_client_left_out(
    fake: FakeAnthropic, provider: LiteLLMProvider
) -> None:
    deployment = make_deployment(fake.base_url, temperature=0.3, top_p=0.9)
    await provider.send(deployment, Endpoint.CHAT, chat(temperature=0.7), timeout=5)
    assert fake.received[0].body["temperature"] == 0.7
    assert fake.received[0].body["top_p"] == 0.9


async def test_unsupported_parameter_is_rejected_unless_dropped(fake: FakeAnthropic) -> None:
    deployment = make_deployment(fake.base_url)
    strict, lenient = LiteLLMProvider(), LiteLLMProvider(drop_params=True)
    try:
        with pytest.raises(UpstreamRejected) as caught:
            await strict.send(deployment, Endpoint.CHAT, chat(logit_bias={"50256": -100}), timeout=5)
        assert caught.value.status_code == 400
        assert not fake.received
        await lenient.send(deployment, Endpoint.CHAT, chat(logit_bias={"50256": -100}), timeout=5)
        assert "logit_bias" not in fake.received[0].body
    finally:
        await strict.aclose()
        await lenient.aclose()


async def test_text_completion(fake: FakeAnthropic, provider: LiteLLMProvider) -> None:
    deployment = make_deployment(fake.base_url)
    body = {"model": "claude", "prompt": "Say hello.", "max_tokens": 20}
    response = await provider.send(deployment, Endpoint.COMPLETIONS, body, timeout=5)

    completion = orjson.loads(response.body)
    assert completion["object"] == "text_completion"
    assert completion["choices"] == [
        {"text": "Hello, world!", "index": 0, "logprobs": None, "finish_reason": "stop"}
    ]
    assert completion["usage"]["total_tokens"] == 17
    assert fake.received[0].body["messages"][0]["content"][0]["text"] == "Say hello."


async def test_embeddings_through_an_openai_shaped_provider(
    fake: FakeAnthropic, provider: LiteLLMProvider
) -> None:
    deployment = make_deployment(f"{fake.base_url}/v1", model="mistral/mistral-embed")
    body = {"model": "embed", "input": ["one", "two"], "encoding_format": "float", "metadata": {"k": "v"}}
    response = await provider.send(deployment, Endpoint.EMBEDDINGS, body, timeout=5)

    result = orjson.loads(response.body)
    assert result == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.25, -0.5, 0.125]},
            {"object": "embedding", "index": 1, "embedding": [0.5, -0.5, 0.125]},
        ],
        "model": "mistral-embed",
        "usage": {"prompt_tokens": 6, "total_tokens": 6},
    }
    [request] = fake.received
    assert request.path == "/v1/embeddings"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body == {"model": "mistral-embed", "input": ["one", "two"], "encoding_format": "float"}


# --- streaming --------------------------------------------------------------------------------


async def test_stream_yields_deltas_in_order_with_usage(
    fake: FakeAnthropic, provider: LiteLLMProvider
) -> None:
    deployment = make_deployment(fake.base_url)
    body = chat(stream=True, stream_options={"include_usage": True})
    stream = await provider.open_stream(deployment, Endpoint.CHAT, body, timeout=5)
    assert (stream.status, stream.content_type) == (200, "text/event-stream")
    chunks = events(await read_stream(stream))

    assert fake.received[0].body["stream"] is True
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    texts = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert [t for t in texts if t] == ["Hello", ", ", "world", "!"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["prompt_tokens"] == 12
    assert usage_chunk["usage"]["completion_tokens"] == 5
    assert usage_chunk["usage"]["total_tokens"] == 17
    assert "cost" not in usage_chunk["usage"]
    assert all("provider_specific_fields" not in c and "usage" not in c for c in chunks[:-1])


async def test_stream_without_include_usage_has_no_usage_chunk(
    fake: FakeAnthropic, provider: LiteLLMProvider
) -> None:
    deployment = make_deployment(fake.base_url)
    stream = await provider.open_stream(deployment, Endpoint.CHAT, chat(stream=True), timeout=5)
    chunks = events(await read_stream(stream))
    assert all("usage" not in c and c["choices"] for c in chunks)


async def test_stream_tool_calls(fake: FakeAnthropic, provider: LiteLLMProvider) -> None:
    fake.tool_use = WEATHER_CALL
    deployment = make_deployment(fake.base_url)
    stream = await provider.open_stream(deployment, Endpoint.CHAT, chat(stream=True, tools=TOOLS), timeout=5)
    chunks = events(await read_stream(stream))

    calls = [call for c in chunks for call in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["id"] == "toolu_01A" and calls[0]["function"]["name"] == "get_weather"
    assert all(call["index"] == 0 for call in calls)
    arguments = "".join(call["function"].get("arguments", "") for call in calls)
    assert orjson.loads(arguments) == {"city": "Paris"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_stream_text_completion(fake: FakeAnthropic, provider: LiteLLMProvider) -> None:
    deployment = make_deployment(fake.base_url)
    body = {"model": "claude", "prompt": "Hi", "stream": True, "stream_options": {"include_usage": True}}
    stream = await provider.open_stream(deployment, Endpoint.COMPLETIONS, body, timeout=5)
    chunks = events(await read_stream(stream))
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "Hello, world!"
    assert all(c["object"] == "text_completion" for c in chunks)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 17


async def test_stream_chunks_pass_as_they_arrive(fake: FakeAnthropic, provider: LiteLLMProvider) -> None:
    """open_stream returns with the first chunk while the upstream still holds the rest."""
    fake.pause_after = 4  # message_start, content_block_start, ping, "Hello"
    deployment = make_deployment(fake.base_url)
    stream = await provider.open_stream(deployment, Endpoint.CHAT, chat(stream=True), timeout=5)
    frames = aiter(stream)
    first = orjson.loads((await anext(frames))[len(b"data: ") :])
    assert first["choices"][0]["delta"]["content"] == "Hello"
    fake.resume.set()
    rest = events([frame async for frame in frames])
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in rest) == ", world!"


async def test_aclose_stops_the_stream_and_is_idempotent(
    fake: FakeAnthropic, provider: LiteLLMProvider
) -> None:
    fake.pause_after = 4
    deployment = make_deployment(fake.base_url)
    stream = await provider.open_stream(deployment, Endpoint.CHAT, chat(stream=True), timeout=5)
    frames = aiter(stream)
    await anext(frames)
    await stream.aclose()
    await stream.aclose()
    fake.resume.set()
    for _ in range(100):
        if fake.abandoned_streams:
            break
        await asyncio.sleep(0.01)
    assert fake.abandoned_streams == 1
    assert [frame async for frame in frames] == []


async def test_stream_cut_midway_raises_stream_interrupted(
    fake: FakeAnthropic, provider: LiteLLMProvider
) -> None:
    fake.cut_stream_after = 5  # after "Hello" and ", "
    deployment = make_deployment(fake.base_url)
    stream = await provider.open_stream(deployment, Endpoint.CHAT, chat(stream=True), timeout=5)
    received: list[bytes] = []
    with pytest.raises(StreamInterrupted) as caught:
        async for frame in stream:
            received.append(frame)
    assert [orjson.loads(f[6:])["choices"][0]["delta"]["content"] for f in received] == ["Hello", ", "]
    assert caught.value.deployment == deployment.id
    assert caught.value.__cause__ is not None
    await stream.aclose()


async def test_stream_cut_before_the_first_chunk_fails_in_open_stream(
    fake: FakeAnthropic, provider: LiteLLMProvider
) -> None:
    fake.cut_stream_after = 2  # message_start and content_block_start only
    deployment = make_deployment(fake.base_url)
    with pytest.raises(ProviderError) as caught:
        await provider.open_stream(deployment, Endpoint.CHAT, chat(stream=True), timeout=5)
    assert not isinstance(caught.value, StreamInterrupted)
    assert caught.value.retryable


# --- errors -----------------------------------------------------------------------------------

FAILURES = [
    ("rate_limit", RateLimited, 429),
    ("server_error", UpstreamError, 500),
    ("overloaded", UpstreamError, 529),
    ("bad_request", UpstreamRejected, 400),
    ("prompt_too_long", UpstreamRejected, 400),
    ("authentication", UpstreamRejected, 401),
    ("permission", UpstreamRejected, 403),
    ("not_found", UpstreamRejected, 404),
    ("echo_key", UpstreamRejected, 401),
]


async def _fail(
    provider: LiteLLMProvider, deployment: Deployment, *, stream: bool, timeout: float = 5
) -> Any:
    if stream:
        return await provider.open_stream(deployment, Endpoint.CHAT, chat(stream=True), timeout=timeout)
    return await provider.send(deployment, Endpoint.CHAT, chat(), timeout=timeout)


def assert_no_secret(error: ProviderError) -> None:
    for text in (str(error), error.message, repr(error.args)):
        assert API_KEY not in text
    assert API_KEY.encode() not in (getattr(error, "body", None) or b"")


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize(("failure", "expected", "status"), FAILURES, ids=[f[0] for f in FAILURES])
async def test_upstream_failures_map_to_llmgate_errors(
    fake: FakeAnthropic,
    provider: LiteLLMProvider,
    stream: bool,
    failure: Any,
    expected: type[ProviderError],
    status: int,
) -> None:
    fake.failure = failure
    deployment = make_deployment(fake.base_url)
    with pytest.raises(ProviderError) as caught:
        await _fail(provider, deployment, stream=stream)
    error = caught.value

    assert type(error) is expected
    assert error.deployment == deployment.id
    assert error.__cause__ is not None
    assert len(fake.received) == 1  # litellm did not retry on its own
    assert_no_secret(error)
    if isinstance(error, RateLimited):
        assert error.retry_after == 7.0
        assert error.body is not None
    if isinstance(error, UpstreamError):
        assert error.upstream_status == status
    if isinstance(error, UpstreamRejected):
        assert error.status_code == status
        assert error.retryable is False
        payload = orjson.loads(error.body)["error"]
        assert set(payload) == {"message", "type", "param", "code"}
        assert payload["message"]


async def test_rejected_body_carries_the_upstream_message(
    fake: FakeAnthropic, provider: LiteLLMProvider
) -> None:
    fake.failure = "bad_request"
    with pytest.raises(UpstreamRejected) as caught:
        await provider.send(make_deployment(fake.base_url), Endpoint.CHAT, chat(), timeout=5)
    assert orjson.loads(caught.value.body) == {
        "error": {
            "message": "messages.1.content: Field required",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


async def test_context_window_exceeded(fake: FakeAnthropic, provider: LiteLLMProvider) -> None:
    fake.failure = "prompt_too_long"
    with pytest.raises(UpstreamRejected) as caught:
        await provider.send(make_deployment(fake.base_url), Endpoint.CHAT, chat(), timeout=5)
    error = orjson.loads(caught.value.body)["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["type"] == "invalid_request_error"
    assert "prompt is too long" in error["message"]


@pytest.mark.parametrize("key", [API_KEY, "opaque-credential-0042"])
async def test_an_echoed_key_is_scrubbed(fake: FakeAnthropic, provider: LiteLLMProvider, key: str) -> None:
    """litellm redacts what looks like a key; llmgate also removes the deployment's exact key."""
    fake.failure = "echo_key"
    with pytest.raises(UpstreamRejected) as caught:
        await provider.send(make_deployment(fake.base_url, api_key=key), Endpoint.CHAT, chat(), timeout=5)
    error = orjson.loads(caught.value.body)["error"]
    assert (error["type"], error["code"]) == ("authentication_error", "invalid_api_key")
    assert error["message"].startswith("this key was rejected: ")
    assert key not in error["message"] and key not in str(caught.value)
    if key != API_KEY:
        assert error["message"] == "this key was rejected: [redacted]"


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
async def test_timeout(fake: FakeAnthropic, provider: LiteLLMProvider, stream: bool) -> None:
    fake.failure = "hang"
    deployment = make_deployment(fake.base_url)
    with pytest.raises(UpstreamTimeout) as caught:
        await _fail(provider, deployment, stream=stream, timeout=0.3)
    assert caught.value.deployment == deployment.id
    assert_no_secret(caught.value)


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
async def test_connection_refused(fake: FakeAnthropic, provider: LiteLLMProvider, stream: bool) -> None:
    deployment = make_deployment(fake.base_url)
    await fake.close()
    with pytest.raises(UpstreamUnavailable) as caught:
        await _fail(provider, deployment, stream=stream)
    assert caught.value.deployment == deployment.id
    assert_no_secret(caught.value)


async def test_embeddings_failure_is_not_retried_by_litellm(
    fake: FakeAnthropic, provider: LiteLLMProvider
) -> None:
    fake.failure = "server_error"
    deployment = make_deployment(f"{fake.base_url}/v1", model="mistral/mistral-embed")
    with pytest.raises(UpstreamError) as caught:
        await provider.send(deployment, Endpoint.EMBEDDINGS, {"input": "x"}, timeout=5)
    assert caught.value.upstream_status == 500
    assert len(fake.received) == 1
    assert_no_secret(caught.value)


# --- the import -------------------------------------------------------------------------------


def test_importing_the_adapter_does_not_import_litellm() -> None:
    code = "import sys, llmgate.providers.litellm_adapter; assert 'litellm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_import_time_is_measured(fake: FakeAnthropic, provider: LiteLLMProvider) -> None:
    await provider.send(make_deployment(fake.base_url), Endpoint.CHAT, chat(), timeout=5)
    seconds = litellm_import_seconds()
    assert seconds is not None and seconds >= 0
