"""``/v1/models`` says which endpoints each model group serves, beside OpenAI's own fields.

Through the ``openai`` SDK (``client.models.list()``, ``client.models.retrieve``) and as raw JSON,
against a real gateway on loopback serving the shipped default config plus an alias that declares
no mode; the endpoints listed are exactly those the gateway lets through to the alias.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from llmgate.protocol.endpoints import Endpoint
from support.gateway import RunningGateway

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text(encoding="utf-8"))
KEY = DEFAULT["general_settings"]["master_key"]
EVERY_ENDPOINT = [endpoint.value for endpoint in Endpoint]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = tmp_path_factory.mktemp("models")
    config: dict[str, Any] = {
        **DEFAULT,
        "model_list": [
            *DEFAULT["model_list"],
            {"model_name": "undeclared", "litellm_params": {"model": "mock/echo"}},
        ],
        "llmgate": {"database_url": f"sqlite:///{tmp / 'store.db'}", "spill_dir": str(tmp / "spill")},
    }
    running = RunningGateway(config, tmp).start()
    yield running
    running.stop()


def test_sdk_lists_models_with_their_endpoints(gateway: RunningGateway) -> None:
    client: openai.OpenAI = gateway.client(KEY)
    listed = {model.id: model for model in client.models.list()}
    chat, embedding, undeclared = listed["mock-echo"], listed["mock-embedding"], listed["undeclared"]
    assert (chat.object, chat.owned_by) == ("model", "llmgate") and isinstance(chat.created, int)
    info: dict[str, Any] = (chat.model_extra or {})["llmgate"]
    assert info["mode"] == "chat"
    assert {"chat/completions", "completions"} <= set(info["endpoints"])
    assert "embeddings" not in info["endpoints"]
    assert (embedding.model_extra or {})["llmgate"]["mode"] == "embedding"
    assert "embeddings" in (embedding.model_extra or {})["llmgate"]["endpoints"]
    assert "chat/completions" not in (embedding.model_extra or {})["llmgate"]["endpoints"]
    assert (undeclared.model_extra or {})["llmgate"] == {"endpoints": EVERY_ENDPOINT, "mode": None}
    retrieved = client.models.retrieve("mock-embedding")
    assert (retrieved.model_extra or {})["llmgate"] == (embedding.model_extra or {})["llmgate"]


def test_raw_listing_agrees_with_what_the_gateway_serves(gateway: RunningGateway) -> None:
    """Each listed endpoint is let through to the alias, each other one refused with a 400."""
    headers = {"Authorization": f"Bearer {KEY}"}
    listing = httpx.get(gateway.url + "/v1/models", headers=headers, timeout=10).json()
    by_id = {item["id"]: item for item in listing["data"]}
    assert set(by_id["mock-embedding"]) == {"id", "object", "created", "owned_by", "llmgate"}
    bodies = {
        "chat/completions": {"messages": [{"role": "user", "content": "hi"}]},
        "embeddings": {"input": "hi"},
    }
    for model in ("mock-echo", "mock-embedding"):
        for endpoint, body in bodies.items():
            answer = httpx.post(
                f"{gateway.url}/v1/{endpoint}", json={"model": model, **body}, headers=headers, timeout=10
            )
            listed = endpoint in by_id[model]["llmgate"]["endpoints"]
            assert answer.status_code == (200 if listed else 400), (model, endpoint, answer.text)
