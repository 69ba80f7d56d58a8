"""The built-in mock provider: deterministic, streams, reports usage, fails on request."""

from __future__ import annotations

import math
import time
from typing import Any

import orjson
import pytest

from llmgate.config import build_deployments, parse_config
from llmgate.config.deployment import Deployment
from llmgate.errors import UpstreamError
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.mock import MockProvider
from llmgate.telemetry.answers import parse_stream


def mock(model: str = "mock/echo", **params: Any) -> Deployment:
    return build_deployments(
        parse_config({"model_list": [{"model_name": "m", "litellm_params": {"model": model, **params}}]})
    )[0]


CHAT = {"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "one two three"}]}


async def test_echo_is_deterministic_with_usage() -> None:
    provider = MockProvider()
    first = orjson.loads((await provider.send(mock(), Endpoint.CHAT, CHAT, timeout=1)).body)
    second = orjson.loads((await provider.send(mock(), Endpoint.CHAT, CHAT, timeout=1)).body)
    assert first["choices"] == second["choices"]
    assert first["choices"][0]["message"]["content"] == "one two three"
    assert first["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}


async def test_stream_matches_the_plain_answer() -> None:
    provider = MockProvider()
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    stream = await provider.open_stream(mock(), Endpoint.CHAT, body, timeout=1)
    chunks = [c async for c in stream]
    assert chunks[-1] == b"data: [DONE]\n\n"
    parsed = parse_stream("chat/completions", chunks)
    assert parsed.texts == ["one two three"] and parsed.finish_reason == "stop"
    assert parsed.usage is not None and parsed.usage["completion_tokens"] == 3


async def test_fixed_response_tool_call_and_embeddings() -> None:
    provider = MockProvider()
    fixed = orjson.loads(
        (await provider.send(mock("mock/fixed", mock_response="Paris."), Endpoint.CHAT, CHAT, timeout=1)).body
    )
    assert fixed["choices"][0]["message"]["content"] == "Paris."
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    called = orjson.loads(
        (await provider.send(mock("mock/tool"), Endpoint.CHAT, {**CHAT, "tools": tools}, timeout=1)).body
    )
    call = called["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call["name"] == "lookup" and orjson.loads(call["arguments"]) == {"input": "one two three"}
    emb = orjson.loads(
        (
            await provider.send(
                mock("mock/embed"),
                Endpoint.EMBEDDINGS,
                {"input": ["a", "b", "a"], "dimensions": 8},
                timeout=1,
            )
        ).body
    )
    vectors = [d["embedding"] for d in emb["data"]]
    assert len(vectors[0]) == 8 and vectors[0] == vectors[2] != vectors[1]
    assert math.isclose(sum(v * v for v in vectors[0]), 1.0, rel_tol=1e-4)


async def test_failure_rate_is_seeded_and_close_to_the_rate() -> None:
    async def failures(seed: int) -> list[bool]:
        provider, deployment = MockProvider(), mock(mock_failure_rate=0.3, mock_seed=seed)
        out = []
        for _ in range(2000):
            try:
                await provider.send(deployment, Endpoint.CHAT, CHAT, timeout=1)
                out.append(False)
            except UpstreamError:
                out.append(True)
        return out

    first = await failures(7)
    assert first == await failures(7)
    assert 0.27 < sum(first) / len(first) < 0.33


async def test_latency_delays_the_first_byte() -> None:
    started = time.perf_counter()
    await MockProvider().send(mock(mock_latency_ms=50), Endpoint.CHAT, CHAT, timeout=1)
    assert time.perf_counter() - started >= 0.05


@pytest.mark.parametrize("endpoint", [Endpoint.COMPLETIONS])
async def test_completions_echo_the_prompt(endpoint: Endpoint) -> None:
    answer = orjson.loads(
        (await MockProvider().send(mock(), endpoint, {"prompt": "hello there"}, timeout=1)).body
    )
    assert answer["object"] == "text_completion" and answer["choices"][0]["text"] == "hello there"
