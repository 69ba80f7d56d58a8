"""Items 1 (the edge half) and "the mock provider bounds n": what a body may ask for.

Through a real ``llmgate serve`` process (its writer process, SQLite) and the openai SDK: a body
nested past ``llmgate.http.max_json_depth`` is refused with 400 before anything is forwarded,
``param`` naming the field, and is stored as exactly one row (the 400); a body just inside the
limit is served and recorded as usual. ``n`` past ``llmgate.http.max_n`` (or not a positive
whole number) is refused with 400 ``param: n`` for every provider; the mock provider refuses a
huge ``n`` (and ``dimensions``) itself when called directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from llmgate.config import parse_config
from llmgate.config.deployment import build_deployments
from llmgate.errors import UpstreamRejected
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.mock import MockProvider
from support.configs import MASTER_KEY
from support.served import ServedGateway
from support.upstream import FakeUpstream

MESSAGES: Any = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def upstream_once() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, upstream_once: FakeUpstream) -> Iterator[ServedGateway]:
    config = {
        "model_list": [
            {
                "model_name": "gpt-4o-mini",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": upstream_once.base_url,
                    "api_key": "sk-upstream",
                },
            },
            {"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}},
        ],
        "general_settings": {"master_key": MASTER_KEY},
        "llmgate": {"http": {"max_n": 8}},
    }
    gateway = ServedGateway(config, tmp_path_factory.mktemp("bounds")).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def client(served: ServedGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=served.url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=20) as c:
        yield c


def nested_object(levels: int) -> dict[str, Any]:
    """An object ``levels`` objects deep (``{"a": {"a": ... {}}}``)."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def nested_schema(levels: int) -> dict[str, Any]:
    """A JSON schema whose ``properties`` nest ``levels`` times (two containers per level)."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"inner": schema}}
    return schema


def refused(call: Any) -> tuple[dict[str, Any], str]:
    """The 400's error object and its request id, from an SDK call expected to be refused."""
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    error: dict[str, Any] = caught.value.body  # type: ignore[assignment]
    return error, caught.value.response.headers["x-llmgate-request-id"]


def test_metadata_nested_300_deep_is_refused_and_recorded_once(
    served: ServedGateway, client: openai.OpenAI, upstream_once: FakeUpstream
) -> None:
    before = len(upstream_once.received)
    error, request_id = refused(
        lambda: client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_body={"metadata": nested_object(300)}
        )
    )
    assert error["type"] == "invalid_request_error" and error["param"] == "metadata"
    assert error["code"] == "nesting_too_deep" and "64" in error["message"]
    assert len(upstream_once.received) == before  # nothing was forwarded
    (row,) = served.rows([request_id])[request_id]
    assert row["status_code"] == 400 and row["error_type"] == "invalid_request_error"


def test_a_tools_schema_130_deep_is_refused_naming_the_tool(
    served: ServedGateway, client: openai.OpenAI, upstream_once: FakeUpstream
) -> None:
    before = len(upstream_once.received)
    # tools (2) > the tool (3) > function (4) > a schema 129 containers deep: 133 levels
    tool: Any = {"type": "function", "function": {"name": "deep", "parameters": nested_schema(64)}}
    error, request_id = refused(
        lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=[tool])
    )
    assert error["param"] == "tools[0].function.parameters"
    assert len(upstream_once.received) == before
    (row,) = served.rows([request_id])[request_id]
    assert row["status_code"] == 400


def test_a_body_60_deep_is_served_and_recorded(
    served: ServedGateway, client: openai.OpenAI, upstream_once: FakeUpstream
) -> None:
    # body (1) > metadata (2) > 57 more objects: 59 levels, and a tools schema 28 deep (57 levels)
    tool: Any = {"type": "function", "function": {"name": "ok", "parameters": nested_schema(26)}}
    reply = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, tools=[tool], extra_body={"metadata": nested_object(58)}
    )
    assert reply.http_response.status_code == 200
    request_id = reply.headers["x-llmgate-request-id"]
    (row,) = served.rows([request_id])[request_id]
    assert row["status_code"] == 200 and row["prompt_tokens"] and row["metadata_json"]
    assert upstream_once.received[-1].body["tools"][0]["function"]["parameters"] == nested_schema(26)


def test_n_outside_1_to_max_n_is_refused(
    served: ServedGateway, client: openai.OpenAI, upstream_once: FakeUpstream
) -> None:
    before = len(upstream_once.received)
    request_ids = []
    for n in (9, 0, -1, 1.5, "3", True, 10_000):  # never a huge n: unfixed, the mock would build it
        for model in ("gpt-4o-mini", "mock-echo"):
            error, request_id = refused(
                lambda n=n, model=model: client.chat.completions.create(model=model, messages=MESSAGES, n=n)
            )
            assert error["param"] == "n" and error["type"] == "invalid_request_error", n
            request_ids.append(request_id)
    assert len(upstream_once.received) == before
    rows = served.rows(request_ids)
    assert all([row["status_code"] for row in rows[i]] == [400] for i in request_ids)


def test_n_up_to_max_n_is_served(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="mock-echo", messages=MESSAGES, n=8)
    assert len(reply.choices) == 8


def _mock_deployment(tmp_path: Path, model: str) -> Any:
    config = parse_config(
        {"model_list": [{"model_name": "m", "litellm_params": {"model": model}}]},
        source="test",
        base_dir=tmp_path,
    )
    return build_deployments(config)[0]


@pytest.mark.parametrize(
    ("endpoint", "body", "param"),
    [
        (Endpoint.CHAT, {"messages": MESSAGES, "n": 129}, "n"),
        (Endpoint.CHAT, {"messages": MESSAGES, "n": 0}, "n"),
        (Endpoint.COMPLETIONS, {"prompt": "hi", "n": 1000}, "n"),
        (Endpoint.EMBEDDINGS, {"input": "hi", "dimensions": 10_000}, "dimensions"),
    ],
)
def test_the_mock_provider_refuses_huge_n_itself(
    tmp_path: Path, endpoint: Endpoint, body: dict[str, Any], param: str
) -> None:
    deployment = _mock_deployment(tmp_path, "mock/echo")

    async def call() -> None:
        await MockProvider().send(deployment, endpoint, body, timeout=5)

    with pytest.raises(UpstreamRejected) as caught:
        asyncio.run(call())
    assert caught.value.status_code == 400 and f'"param":"{param}"' in caught.value.body.decode()
