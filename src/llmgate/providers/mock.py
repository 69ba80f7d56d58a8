"""The built-in ``mock/`` provider: deterministic answers without any upstream.

For the quickstart demo, tests and chaos runs. Models:

- ``mock/echo``: answers with the last user message (completions: the prompt);
- ``mock/tool``: calls the first tool in ``tools`` with ``{"input": <last user message>}``, and
  answers a tool result (the last message's role is ``tool``) with text that quotes it, so an
  agent loop run against it ends;
- ``mock/<anything else>``: answers ``mock_response`` (or a fixed sentence).

Images, speech, transcripts, moderation and rerank are answered by ``mock_media.py``.

Embeddings are deterministic unit vectors derived from a hash of each input. Usage is always
reported (whitespace word counts). ``mock_latency_ms`` delays the first byte,
``mock_chunk_delay_ms`` spaces stream chunks, and ``mock_failure_rate`` makes that share of
calls fail with a 503 (seeded by ``mock_seed`` for repeatable chaos runs).

Like a real upstream it refuses what it would not serve, with a 400 in OpenAI's words: ``n``
outside 1..``MAX_N`` and ``dimensions`` outside 1..``MAX_DIMENSIONS`` (the gateway bounds ``n``
first, by ``llmgate.http.max_n``; this keeps the mock from building millions of choices or
hashing millions of vector components for whoever calls it directly).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import struct
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from llmgate.config.deployment import Deployment
from llmgate.config.schema import GatewayConfig
from llmgate.errors import UpstreamError, UpstreamRejected
from llmgate.protocol import error_body
from llmgate.protocol.endpoints import Endpoint
from llmgate.protocol.message_text import message_text
from llmgate.providers import mock_media
from llmgate.providers.base import ProviderKind, UpstreamResponse

DEFAULT_TEXT = "This is a mock response from llmgate."
DEFAULT_DIMENSIONS = 64
MAX_N = 128  # OpenAI's own maximum for n
MAX_DIMENSIONS = 3072  # text-embedding-3-large's


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def _last_role(body: dict[str, Any]) -> object:
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    return last.get("role") if isinstance(last, dict) else None


def _prompt_words(body: dict[str, Any]) -> int:
    if "messages" in body:
        return sum(
            len(message_text(m.get("content")).split()) + 3 for m in body["messages"] if isinstance(m, dict)
        )
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        return sum(len(str(p).split()) for p in prompt)
    return len(str(prompt or "").split())


def _embedding(text: str, dimensions: int) -> list[float]:
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values += [v / 2**31 - 1.0 for v in struct.unpack("<8I", digest)]
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def _bounded(body: dict[str, Any], name: str, default: int, maximum: int, deployment: Deployment) -> int:
    """``body[name]`` as a whole number from 1 to ``maximum`` (``default`` when absent), else 400."""
    value = body.get(name)
    if value is None:
        return default
    if type(value) is int and 1 <= value <= maximum:
        return value
    message = f"'{name}' must be a whole number from 1 to {maximum}."
    raise UpstreamRejected(
        f"mock deployment {deployment.id} refused {name}",
        status=400,
        body=error_body(message, "invalid_request_error", param=name, code="invalid_value"),
        deployment=deployment.id,
    )


class MockStream:
    def __init__(self, events: list[bytes], delay_s: float) -> None:
        self._events = events
        self._delay_s = delay_s
        self.status = 200
        self.content_type = "text/event-stream"
        self.headers: dict[str, str] = {}

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i, event in enumerate(self._events):
            if i and self._delay_s:
                await asyncio.sleep(self._delay_s)
            yield event

    async def aclose(self) -> None:
        self._events = []


class MockProvider:
    def __init__(self) -> None:
        self._rngs: dict[str, random.Random] = {}

    async def _before(self, deployment: Deployment) -> None:
        if deployment.mock_latency_ms:
            await asyncio.sleep(deployment.mock_latency_ms / 1000)
        if deployment.mock_failure_rate:
            rng = self._rngs.setdefault(deployment.id, random.Random(deployment.mock_seed))
            if rng.random() < deployment.mock_failure_rate:
                raise UpstreamError(
                    f"mock deployment {deployment.id} failed on purpose",
                    deployment=deployment.id,
                    upstream_status=503,
                )

    def _answer(
        self, deployment: Deployment, body: dict[str, Any]
    ) -> tuple[str, list[dict[str, Any]] | None]:
        name = deployment.upstream_model
        if name == "echo":
            return _last_user_text(body) if "messages" in body else str(body.get("prompt") or ""), None
        tools = body.get("tools")
        if name == "tool" and _last_role(body) == "tool":  # a tool result: the loop ends with text
            return f"The tool returned: {message_text(body['messages'][-1].get('content'))}", None
        if name == "tool" and isinstance(tools, list) and tools and body.get("tool_choice") != "none":
            function = tools[0].get("function", {}) if isinstance(tools[0], dict) else {}
            call = {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {
                    "name": function.get("name", "tool"),
                    "arguments": orjson.dumps({"input": _last_user_text(body)}).decode(),
                },
            }
            return "", [call]
        return deployment.mock_response or DEFAULT_TEXT, None

    def _usage(self, body: dict[str, Any], text: str) -> dict[str, int]:
        prompt = _prompt_words(body)
        completion = len(text.split())
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    async def send(
        self, deployment: Deployment, endpoint: Endpoint, body: dict[str, Any], *, timeout: float
    ) -> UpstreamResponse:
        await self._before(deployment)
        if endpoint in mock_media.ENDPOINTS:  # images, audio, moderation, rerank
            return mock_media.answer(deployment, endpoint, body)
        created = int(time.time())
        model = deployment.upstream_model
        if endpoint is Endpoint.EMBEDDINGS:
            inputs = body.get("input")
            items = inputs if isinstance(inputs, list) else [inputs]
            dims = _bounded(body, "dimensions", DEFAULT_DIMENSIONS, MAX_DIMENSIONS, deployment)
            words = sum(len(str(i).split()) for i in items)
            payload: dict[str, Any] = {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": _embedding(str(item), dims)}
                    for i, item in enumerate(items)
                ],
                "model": model,
                "usage": {"prompt_tokens": words, "total_tokens": words},
            }
            return UpstreamResponse(200, orjson.dumps(payload))
        n = _bounded(body, "n", 1, MAX_N, deployment)
        text, tool_calls = self._answer(deployment, body)
        if endpoint is Endpoint.COMPLETIONS:
            payload = {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": i, "text": text, "finish_reason": "stop", "logprobs": None} for i in range(n)
                ],
                "usage": self._usage(body, text),
            }
            return UpstreamResponse(200, orjson.dumps(payload))
        message: dict[str, Any] = {"role": "assistant", "content": text if tool_calls is None else None}
        if tool_calls is not None:
            message["tool_calls"] = tool_calls
        finish = "tool_calls" if tool_calls else "stop"
        payload = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": i, "message": message, "finish_reason": finish, "logprobs": None} for i in range(n)
            ],
            "usage": self._usage(body, text),
        }
        return UpstreamResponse(200, orjson.dumps(payload))

    async def open_stream(
        self, deployment: Deployment, endpoint: Endpoint, body: dict[str, Any], *, timeout: float
    ) -> MockStream:
        await self._before(deployment)
        if endpoint in mock_media.ENDPOINTS:
            raise mock_media.refuse_stream(deployment, endpoint)
        _bounded(body, "n", 1, MAX_N, deployment)  # one choice is streamed, but a bad n is refused alike
        text, tool_calls = self._answer(deployment, body)
        base: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk" if endpoint is Endpoint.CHAT else "text_completion",
            "created": int(time.time()),
            "model": deployment.upstream_model,
        }
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        words = text.split(" ") if text else []
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        events: list[dict[str, Any]] = []
        if endpoint is Endpoint.CHAT:
            events.append({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
            events += [{**base, "choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
            if tool_calls:
                delta = {"tool_calls": [{"index": 0, **tool_calls[0]}]}
                events.append({**base, "choices": [{"index": 0, "delta": delta}]})
            finish = "tool_calls" if tool_calls else "stop"
            events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        else:
            events += [{**base, "choices": [{"index": 0, "text": p, "finish_reason": None}]} for p in pieces]
            events.append({**base, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
        if include_usage:
            events.append({**base, "choices": [], "usage": self._usage(body, text)})
        raw = [b"data: " + orjson.dumps(e) + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]
        return MockStream(raw, deployment.mock_chunk_delay_ms / 1000)

    async def aclose(self) -> None:
        self._rngs.clear()


def _build(config: GatewayConfig) -> MockProvider:
    return MockProvider()


#: ``mock/<anything>``: answers made up in-process, for tests, demos and benchmarks
KIND = ProviderKind("mock", "mock".__eq__, _build)
