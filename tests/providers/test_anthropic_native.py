"""Anthropic's Messages API passed through (``providers/anthropic_native.py``), against a fake
Anthropic on loopback: bodies and events as they came, the right headers, errors as llmgate's."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import orjson
import pytest

from llmgate.config import build_deployments, parse_config
from llmgate.config.deployment import Deployment
from llmgate.errors import (
    RateLimited,
    StreamInterrupted,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from llmgate.providers.anthropic_native import AnthropicNative, messages_url
from support.fake_anthropic import FakeAnthropic

BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 20,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": "Hi"}],
}


def deployment(api_base: str | None, key: str = "sk-ant-native-secret") -> Deployment:
    entry = {
        "model_name": "claude",
        "litellm_params": {"model": "anthropic/claude-sonnet-4-5", "api_key": key},
    }
    (built,) = build_deployments(parse_config({"model_list": [entry]}))
    return replace(built, api_base=api_base)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    server = FakeAnthropic()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def native() -> AsyncIterator[AnthropicNative]:
    sender = AnthropicNative(pool_size=4)
    yield sender
    await sender.aclose()


def test_the_url_takes_a_base_with_or_without_v1() -> None:
    assert messages_url(deployment(None), "messages") == "https://api.anthropic.com/v1/messages"
    for base in ("http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/messages"):
        assert (
            messages_url(deployment(base), "messages/count_tokens") == "http://h:1/v1/messages/count_tokens"
        )


async def test_a_body_goes_as_it_came_with_the_deployments_key(
    fake: FakeAnthropic, native: AnthropicNative
) -> None:
    client = {
        "anthropic-beta": "prompt-caching-2024-07-31",
        "x-api-key": "sk-client",
        "authorization": "Bearer x",
    }
    response = await native.send(deployment(fake.base_url), "messages", BODY, client, timeout=5)
    assert orjson.loads(response.body)["content"] == [{"type": "text", "text": "Hello, world!"}]
    sent = fake.received[-1]
    assert sent.body == BODY and sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-native-secret" and "authorization" not in sent.headers
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"

    counted = await native.send(deployment(fake.base_url), "messages/count_tokens", BODY, {}, timeout=5)
    assert orjson.loads(counted.body) == {"input_tokens": 42}
    assert fake.received[-1].path == "/v1/messages/count_tokens"


async def test_a_stream_comes_back_event_by_event(fake: FakeAnthropic, native: AnthropicNative) -> None:
    stream = await native.open_stream(
        deployment(fake.base_url), {**BODY, "stream": True}, {"anthropic-version": "2024-01-01"}, timeout=5
    )
    raw = b"".join([chunk async for chunk in stream])
    await stream.aclose()
    assert raw.startswith(b"event: message_start\n") and raw.endswith(
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    assert fake.received[-1].headers["anthropic-version"] == "2024-01-01"

    fake.cut_stream_after = 3
    cut = await native.open_stream(deployment(fake.base_url), {**BODY, "stream": True}, {}, timeout=5)
    with pytest.raises(StreamInterrupted):
        async for _ in cut:
            pass
    await cut.aclose()


@pytest.mark.parametrize(
    ("failure", "error", "status"),
    [
        ("rate_limit", RateLimited, 429),
        ("overloaded", UpstreamError, 502),
        ("server_error", UpstreamError, 502),
        ("bad_request", UpstreamRejected, 400),
        ("echo_key", UpstreamRejected, 401),
    ],
)
async def test_failures_become_llmgates_errors(
    fake: FakeAnthropic, native: AnthropicNative, failure: Any, error: type[Exception], status: int
) -> None:
    fake.failure = failure
    for attempt in ("send", "stream"):
        with pytest.raises(error) as caught:
            if attempt == "send":
                await native.send(deployment(fake.base_url), "messages", BODY, {}, timeout=5)
            else:
                await native.open_stream(deployment(fake.base_url), {**BODY, "stream": True}, {}, timeout=5)
        raised: Any = caught.value
        assert raised.status_code == status
        assert b"sk-ant-native-secret" not in (raised.body or b"")
        if failure == "rate_limit":
            assert raised.retry_after == 7
        if failure == "overloaded":
            assert raised.upstream_status == 529
        if failure == "bad_request":  # Anthropic's own body, for the client
            assert orjson.loads(raised.body)["error"]["type"] == "invalid_request_error"


async def test_an_unreachable_upstream(native: AnthropicNative) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UpstreamUnavailable):
        await native.send(deployment(f"http://127.0.0.1:{port}"), "messages", BODY, {}, timeout=5)
