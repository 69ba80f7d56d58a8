"""The gateway drives the retry/fallback loop: what each try sends, and what the record keeps.

An in-process ``Gateway`` (no server, no store) in front of the built-in mock provider: a model
group whose deployment always fails (``mock_failure_rate: 1``) falls back to one that echoes.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from llmgate.auth import Authenticator
from llmgate.config import parse_config
from llmgate.config.deployment import build_deployments
from llmgate.gateway import Gateway, Reply, StreamReply
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.mock import MockProvider
from llmgate.routing import Router
from llmgate.telemetry.call_record import CallRecord


def gateway(records: list[CallRecord], **router_settings: Any) -> Gateway:
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "flaky",
                    "litellm_params": {"model": "mock/echo", "mock_failure_rate": 1.0},
                    "model_info": {"id": "flaky-1"},
                },
                {
                    "model_name": "steady",
                    "litellm_params": {"model": "mock/echo"},
                    "model_info": {"id": "steady-1"},
                },
            ],
            "router_settings": {"fallbacks": [{"flaky": ["steady"]}], "allowed_fails": 10, **router_settings},
        }
    )
    policy = config.routing
    deployments = build_deployments(config)
    router = Router(deployments, fallbacks=policy.fallbacks)
    mock = MockProvider()
    return Gateway(
        config,
        router=router,
        providers={d.id: mock for d in deployments},
        authenticator=Authenticator(None),
        submit=records.append,
    )


def chat(model: str, *, stream: bool = False) -> bytes:
    return orjson.dumps(
        {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello there"}]}
    )


async def test_retries_then_falls_back_and_records_every_try_in_order() -> None:
    records: list[CallRecord] = []
    reply = await gateway(records, num_retries=1).handle(
        Endpoint.CHAT, chat("flaky"), {}, time.perf_counter()
    )
    assert isinstance(reply, Reply) and reply.status == 200
    assert orjson.loads(reply.body)["choices"][0]["message"]["content"] == "hello there"
    assert reply.headers["x-llmgate-attempts"] == "3"
    assert reply.headers["x-llmgate-model"] == "steady-1"
    [record] = records
    assert [(a.deployment, a.status, a.status_code) for a in record.attempts] == [
        ("flaky-1", "error", 502),
        ("flaky-1", "error", 502),
        ("steady-1", "success", 200),
    ]
    starts = [a.started_ms for a in record.attempts]
    assert starts == sorted(starts) and starts[0] >= 0
    assert record.deployment is not None and record.deployment.id == "steady-1"
    assert record.status_code == 200


async def test_a_stream_falls_back_the_same_way() -> None:
    records: list[CallRecord] = []
    reply = await gateway(records, num_retries=0).handle(
        Endpoint.CHAT, chat("flaky", stream=True), {}, time.perf_counter()
    )
    assert isinstance(reply, StreamReply)
    body = b"".join([chunk async for chunk in reply.chunks])
    assert b"data: [DONE]" in body
    [record] = records
    assert [(a.deployment, a.status) for a in record.attempts] == [
        ("flaky-1", "error"),
        ("steady-1", "success"),
    ]
    assert record.stream


async def test_when_nothing_answers_the_last_failure_is_answered_with_every_try_recorded() -> None:
    records: list[CallRecord] = []
    reply = await gateway(records, num_retries=1, fallbacks=[]).handle(
        Endpoint.CHAT, chat("flaky"), {}, time.perf_counter()
    )
    assert isinstance(reply, Reply) and reply.status == 502
    assert orjson.loads(reply.body)["error"]["type"] == "upstream_error"
    assert reply.headers["x-llmgate-attempts"] == "2"
    [record] = records
    assert [a.status for a in record.attempts] == ["error", "error"]
    assert record.error_type == "upstream_error"
