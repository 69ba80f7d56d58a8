"""Wildcard deployments (``model_name: "anthropic/*"``) through a real gateway, as LiteLLM serves
them: the openai SDK asks for concrete models, each reaches its provider under its own name, is
recorded under the name asked for, and key allow-lists with patterns admit exactly their models."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from e2e.test_proxy import MESSAGES, records
from support.configs import MASTER_KEY
from support.fake_anthropic import FakeAnthropic
from support.gateway import RunningGateway
from support.keys import add_key
from support.upstream import FakeUpstream


@pytest.fixture(scope="module")
def anthropic() -> Iterator[FakeAnthropic]:
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
def openai_upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(
    anthropic: FakeAnthropic, openai_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    config: dict[str, Any] = {
        "model_list": [
            {
                "model_name": "anthropic/*",
                "litellm_params": {
                    "model": "anthropic/*",
                    "api_base": anthropic.base_url,
                    "api_key": "sk-ant-wildcard-secret",
                },
            },
            {
                "model_name": "openai/*",
                "litellm_params": {
                    "model": "openai/*",
                    "api_base": openai_upstream.base_url,
                    "api_key": "sk-openai-wildcard-secret",
                },
            },
            {  # an exact group a pattern on a key's allow-list admits
                "model_name": "openai/gpt-4.1-nano",
                "litellm_params": {
                    "model": "openai/gpt-4.1-nano",
                    "api_base": openai_upstream.base_url,
                    "api_key": "sk-openai-wildcard-secret",
                },
            },
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    running = RunningGateway(config, Path(tmp_path_factory.mktemp("wildcards"))).start()
    yield running
    running.stop()


def test_each_model_of_a_provider_wildcard_answers_under_its_own_name(
    gateway: RunningGateway, anthropic: FakeAnthropic, openai_upstream: FakeUpstream
) -> None:
    client: openai.OpenAI = gateway.client(MASTER_KEY)
    claude = client.chat.completions.create(
        model="anthropic/claude-3-5-haiku-20241022", messages=MESSAGES, max_tokens=50
    )
    assert claude.choices[0].message.content == "Hello, world!"
    assert anthropic.received[-1].body["model"] == "claude-3-5-haiku-20241022"

    gpt = client.chat.completions.with_raw_response.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert gpt.parse().choices[0].message.content
    assert openai_upstream.received[-1].body["model"] == "gpt-4o-mini"
    assert gpt.headers["x-llmgate-model"].endswith(":openai/gpt-4o-mini")

    rows = {row["model"]: row for row in records(gateway)}
    claude_row, gpt_row = rows["anthropic/claude-3-5-haiku-20241022"], rows["openai/gpt-4o-mini"]
    assert (claude_row["provider"], claude_row["upstream_model"]) == (
        "anthropic",
        "claude-3-5-haiku-20241022",
    )
    assert (gpt_row["provider"], gpt_row["upstream_model"]) == ("openai", "gpt-4o-mini")
    # priced as the concrete upstream model in litellm's map
    assert gpt_row["cost_unknown"] is False and Decimal(str(gpt_row["cost_usd"])) > 0
    names = [m.id for m in client.models.list()]
    assert names == ["anthropic/*", "openai/*", "openai/gpt-4.1-nano"]  # the groups as configured


def test_a_key_allowed_one_provider_is_refused_the_others(gateway: RunningGateway) -> None:
    key, _ = add_key(gateway.state.engine, "openai-only", models=["openai/*"])
    client: openai.OpenAI = gateway.client(key)
    assert client.chat.completions.create(model="openai/gpt-4o", messages=MESSAGES).choices
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.chat.completions.create(model="anthropic/claude-3-5-haiku-20241022", messages=MESSAGES)
    assert denied.value.status_code == 403
    assert denied.value.body["code"] == "model_not_allowed"  # type: ignore[index]


def test_a_key_lists_the_groups_its_patterns_admit(gateway: RunningGateway) -> None:
    key, _ = add_key(gateway.state.engine, "openai-lister", models=["openai/*"])
    names = sorted(model.id for model in gateway.client(key).models.list())
    assert names == ["openai/*", "openai/gpt-4.1-nano"]  # the same rule as the 403 above


def test_a_name_no_wildcard_matches_is_404(gateway: RunningGateway) -> None:
    client: openai.OpenAI = gateway.client(MASTER_KEY)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="mistral/mistral-large-latest", messages=MESSAGES)
