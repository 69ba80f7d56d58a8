"""An embedding model is not asked to chat, nor a chat model to embed: 400 in OpenAI's shape.

Through the ``openai`` SDK against a real gateway on loopback, with the shipped default config
(whose mock models say what they are in ``model_info.mode``) and with aliases that declare no mode
(they go to their upstream, as before).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from llmgate.store.records import list_records
from support.gateway import RunningGateway

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text(encoding="utf-8"))
KEY = DEFAULT["general_settings"]["master_key"]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    config: dict[str, Any] = {
        **DEFAULT,
        "model_list": [
            *DEFAULT["model_list"],
            {"model_name": "undeclared", "litellm_params": {"model": "mock/echo"}},
        ],
        "llmgate": {
            "database_url": f"sqlite:///{tmp_path / 'store.db'}",
            "spill_dir": str(tmp_path / "spill"),
        },
    }
    running = RunningGateway(config, tmp_path).start()
    try:
        yield running
    finally:
        running.stop()


def _refused(call: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict)
    return body


def test_wrong_endpoint_for_the_model_is_a_400(gateway: RunningGateway) -> None:
    client = gateway.client(KEY)
    chat = _refused(
        lambda: client.chat.completions.create(
            model="mock-embedding", messages=[{"role": "user", "content": "Hello"}]
        )
    )
    assert chat["type"] == "invalid_request_error" and chat["param"] == "model"
    assert chat["code"] == "model_not_supported"
    assert "embedding model" in chat["message"] and "/v1/embeddings" in chat["message"]
    embed = _refused(lambda: client.embeddings.create(model="gpt-4o-mini", input="Hello"))
    assert embed["param"] == "model" and "/v1/chat/completions" in embed["message"]
    _refused(lambda: client.completions.create(model="mock-embedding", prompt="Hello"))

    # the right endpoint, and an alias that declares nothing, work as before
    assert client.embeddings.create(model="mock-embedding", input="Hello").data[0].embedding
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content == "Hi"
    assert client.embeddings.create(model="undeclared", input="Hello").data[0].embedding

    gateway.flush()  # the refusals are recorded, as 400s of the model that was asked for
    refused = [r for r in list_records(gateway.state.engine, limit=50) if r["status_code"] == 400]
    assert sorted((r["model"], r["endpoint"]) for r in refused) == [
        ("gpt-4o-mini", "embeddings"),
        ("mock-embedding", "chat/completions"),
        ("mock-embedding", "completions"),
    ]
