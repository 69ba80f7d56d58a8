"""``/v1/embeddings`` as the official SDKs call it: ``encoding_format: "base64"`` unless told otherwise.

Through the Python ``openai`` SDK's default ``embeddings.create`` and the Node ``openai`` SDK's
(``tests/node/``): whatever the deployment answers (floats from an OpenAI-compatible server, the
mock's floats, base64 from an upstream that has it, floats from a litellm provider that refuses the
parameter), the vector the SDK decodes is the one the upstream returned, and the call is recorded
with its tokens.
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from llmgate.store.records import list_records
from support.configs import MASTER_KEY
from support.fake_embeddings import FakeEmbeddings, vector_for
from support.gateway import RunningGateway

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def float32(values: list[float]) -> list[float]:
    """``values`` as float32 holds them (what a base64 vector carries)."""
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeEmbeddings]]:
    servers = {mode: FakeEmbeddings(mode=mode).start() for mode in ("refuse", "honour", "ignore")}  # type: ignore[arg-type]
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def gateway(
    fakes: dict[str, FakeEmbeddings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    embedding = {"mode": "embedding"}
    config = {
        "model_list": [
            {  # (a) an OpenAI-compatible server that answers floats whatever is asked
                "model_name": "emb-floats",
                "litellm_params": {
                    "model": "openai/text-embedding-3-small",
                    "api_base": fakes["ignore"].base_url,
                },
                "model_info": embedding,
            },
            {  # an OpenAI-compatible server that answers base64 when asked, as OpenAI does
                "model_name": "emb-base64",
                "litellm_params": {
                    "model": "openai/text-embedding-3-small",
                    "api_base": fakes["honour"].base_url,
                },
                "model_info": embedding,
            },
            {
                "model_name": "emb-mock",
                "litellm_params": {"model": "mock/embed"},
                "model_info": embedding,
            },  # (b)
            {  # (c) through litellm, to a provider that refuses encoding_format
                "model_name": "emb-mistral",
                "litellm_params": {
                    "model": "mistral/mistral-embed",
                    "api_base": fakes["refuse"].base_url,
                    "api_key": "sk-fake-mistral",
                },
                "model_info": embedding,
            },
            {"model_name": "chat", "litellm_params": {"model": "mock/echo"}, "model_info": {"mode": "chat"}},
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    running = RunningGateway(config, tmp_path_factory.mktemp("embeddings")).start()
    yield running
    running.stop()


@pytest.fixture
def client(gateway: RunningGateway) -> openai.OpenAI:
    sdk: openai.OpenAI = gateway.client(MASTER_KEY)
    return sdk


def raw_embeddings(gateway: RunningGateway, **body: Any) -> httpx.Response:
    return gateway.post("/v1/embeddings", json=body, headers={"Authorization": f"Bearer {MASTER_KEY}"})


def test_sdk_default_gets_base64_from_a_server_that_answers_floats(
    client: openai.OpenAI, gateway: RunningGateway, fakes: dict[str, FakeEmbeddings]
) -> None:
    answer = client.embeddings.create(model="emb-floats", input=["one", "two"])
    assert [item.embedding for item in answer.data] == [vector_for(0), vector_for(1)]
    assert fakes["ignore"].received[-1]["encoding_format"] == "base64"  # forwarded: the API has it
    raw = raw_embeddings(gateway, model="emb-floats", input="one", encoding_format="base64")
    assert raw.status_code == 200
    encoded = raw.json()["data"][0]["embedding"]
    assert isinstance(encoded, str)
    assert list(struct.unpack("<64f", base64.b64decode(encoded))) == vector_for(0)
    assert raw.json()["usage"] == {"prompt_tokens": 5, "total_tokens": 5}


def test_base64_from_the_upstream_is_passed_on(
    gateway: RunningGateway, fakes: dict[str, FakeEmbeddings]
) -> None:
    fake = fakes["honour"]
    raw = raw_embeddings(gateway, model="emb-base64", input=["one"], encoding_format="base64")
    assert raw.status_code == 200
    assert fake.received[-1]["encoding_format"] == "base64"
    expected = base64.b64encode(struct.pack("<64f", *vector_for(0))).decode()
    assert raw.json()["data"][0]["embedding"] == expected


def test_floats_when_asked_or_by_default(gateway: RunningGateway) -> None:
    for extra in ({}, {"encoding_format": "float"}, {"encoding_format": None}):
        for model in ("emb-floats", "emb-mock", "emb-mistral"):
            raw = raw_embeddings(gateway, model=model, input="one", **extra)
            assert raw.status_code == 200, (model, extra, raw.text)
            vector = raw.json()["data"][0]["embedding"]
            assert isinstance(vector, list) and len(vector) == 64, (model, extra)


def test_sdk_default_against_the_mock(client: openai.OpenAI, gateway: RunningGateway) -> None:
    floats = raw_embeddings(gateway, model="emb-mock", input=["hello world", "bye"]).json()
    decoded = client.embeddings.create(model="emb-mock", input=["hello world", "bye"])
    assert [item.embedding for item in decoded.data] == [
        float32(item["embedding"]) for item in floats["data"]
    ]
    assert decoded.usage.prompt_tokens == floats["usage"]["prompt_tokens"]


def test_sdk_default_through_litellm_to_a_provider_that_refuses_the_parameter(
    client: openai.OpenAI, fakes: dict[str, FakeEmbeddings]
) -> None:
    fake = fakes["refuse"]
    answer = client.embeddings.create(model="emb-mistral", input=["one", "two"])
    assert [item.embedding for item in answer.data] == [vector_for(0), vector_for(1)]
    assert "encoding_format" not in fake.received[-1]
    client.embeddings.create(model="emb-mistral", input="one", encoding_format="float")
    assert "encoding_format" not in fake.received[-1]


def test_an_invalid_encoding_format_is_refused_in_openais_shape(
    client: openai.OpenAI, fakes: dict[str, FakeEmbeddings]
) -> None:
    before = len(fakes["ignore"].received)
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="emb-floats", input="one", encoding_format="int8")  # type: ignore[arg-type]
    error = refused.value.body
    assert isinstance(error, dict)
    assert error["param"] == "encoding_format" and error["type"] == "invalid_request_error"
    assert "int8" in error["message"] and "base64" in error["message"]
    assert len(fakes["ignore"].received) == before  # no upstream was called


def test_base64_answers_are_recorded_with_their_tokens(
    client: openai.OpenAI, gateway: RunningGateway
) -> None:
    answer = client.embeddings.create(model="emb-floats", input=["one", "two", "three"], user="base64-tokens")
    gateway.flush()
    rows = [r for r in list_records(gateway.state.engine, limit=1000) if r["user"] == "base64-tokens"]
    assert len(rows) == 1
    assert rows[0]["status"] == "success" and rows[0]["endpoint"] == "embeddings"
    assert rows[0]["prompt_tokens"] == answer.usage.prompt_tokens == 15
    assert not rows[0]["tokens_estimated"]


# --- the Node openai SDK ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def node() -> str:
    """``node``, with ``tests/node``'s locked packages installed (``npm ci``, once per run)."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("npm and node are needed to run the Node openai SDK against the gateway")
    subprocess.run(
        [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--loglevel=error"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return node


def run_node(node: str, script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [node, str(NODE_DIR / script), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("model", ["emb-floats", "emb-base64", "emb-mistral"])
def test_node_sdk_default_decodes_the_upstreams_vector(
    node: str, gateway: RunningGateway, model: str
) -> None:
    result = run_node(node, "embeddings.mjs", gateway.url + "/v1", MASTER_KEY, model, "one", "two")
    assert result["vectors"] == [vector_for(0), vector_for(1)]
    assert result["usage"]["prompt_tokens"] == 10


def test_node_sdk_against_the_mock(node: str, gateway: RunningGateway) -> None:
    floats = raw_embeddings(gateway, model="emb-mock", input=["hello world"]).json()
    result = run_node(node, "embeddings.mjs", gateway.url + "/v1", MASTER_KEY, "emb-mock", "hello world")
    assert result["vectors"] == [float32(floats["data"][0]["embedding"])]


def test_node_sdk_chat_completion(node: str, gateway: RunningGateway) -> None:
    result = run_node(node, "chat.mjs", gateway.url + "/v1", MASTER_KEY, "chat", "hello from node")
    assert result["content"] == "hello from node" and result["finish_reason"] == "stop"
    assert result["usage"]["total_tokens"] > 0
