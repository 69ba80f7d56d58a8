"""Item 4: requests for a model that is not configured.

Through a real ``llmgate serve`` process, keys made with ``llmgate keys create`` and the openai
SDK: they count against the key's requests per minute like any request (429 once past it),
a key with a model allow-list gets 403 for them (it learns nothing about which models exist),
``/metrics`` counts every unknown name under one ``model="__unknown__"`` label, and the stored
model name is cut to 256 characters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from support.configs import MASTER_KEY
from support.served import ServedGateway

MESSAGES: Any = [{"role": "user", "content": "hello"}]
MAX_NAME = 256
LLMGATE = [sys.executable, "-m", "llmgate.cli.main"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    config = {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gateway = ServedGateway(config, tmp_path_factory.mktemp("unknown-models")).start()
    yield gateway
    gateway.stop()


def create_key(served: ServedGateway, *options: str) -> str:
    """``llmgate keys create`` against the served gateway's store; the new key."""
    result = subprocess.run(
        [*LLMGATE, "keys", "create", "--config", str(served.config_path), "--format", "json", *options],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr
    key: str = json.loads(result.stdout)["key"]
    deadline = time.monotonic() + 10  # the gateway's copy of the keys follows the store in 0.25 s
    headers = {"Authorization": f"Bearer {key}"}
    while httpx.get(served.url + "/v1/models", headers=headers, timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the gateway never saw the new key"
        time.sleep(0.05)
    return key


def client(served: ServedGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0, timeout=20)


def status_of(sdk: openai.OpenAI, model: str) -> tuple[int, str]:
    """The HTTP status and request id of one chat request for ``model``."""
    try:
        reply = sdk.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
    except openai.APIStatusError as exc:
        return exc.status_code, exc.response.headers.get("x-llmgate-request-id", "")
    return reply.http_response.status_code, reply.headers["x-llmgate-request-id"]


def test_unknown_models_count_against_the_keys_rpm(served: ServedGateway) -> None:
    key = create_key(served, "--alias", "prober", "--rpm", "5")
    with client(served, key) as sdk:
        statuses = [status_of(sdk, f"no-such-model-{i}")[0] for i in range(10)]
        assert statuses == [404] * 5 + [429] * 5
        assert status_of(sdk, "mock-echo")[0] == 429  # the same budget of requests


def test_a_key_with_an_allow_list_gets_403_for_unknown_models_and_is_limited(served: ServedGateway) -> None:
    key = create_key(served, "--alias", "restricted", "--rpm", "3", "--models", "mock-echo")
    with client(served, key) as sdk, pytest.raises(openai.PermissionDeniedError) as denied:
        sdk.chat.completions.create(model="gpt-secret-internal", messages=MESSAGES)
    assert denied.value.body["code"] == "model_not_allowed"  # type: ignore[index]
    with client(served, key) as sdk:
        statuses = [status_of(sdk, "mock-echo")[0], *(status_of(sdk, f"x-{i}")[0] for i in range(3))]
    assert statuses == [200, 403, 429, 429]


def test_unique_unknown_names_leave_metrics_small_and_records_bounded(served: ServedGateway) -> None:
    request_ids = []
    with client(served, MASTER_KEY) as sdk:
        for i in range(200):
            name = f"{i:04d}-" + "m" * 10_000
            status, request_id = status_of(sdk, name)
            assert status == 404
            request_ids.append(request_id)
    rows = served.rows(request_ids)
    stored = [row["model"] for request_id in request_ids for row in rows[request_id]]
    assert len(stored) == 200
    assert all(len(name) <= MAX_NAME and name.startswith(f"{i:04d}-mmm") for i, name in enumerate(stored))
    deadline = time.monotonic() + 10  # the writer process reports its counts with its acks
    while True:
        metrics = httpx.get(served.url + "/metrics", timeout=10).text
        unknown = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("llmgate_requests_total{") and 'model="__unknown__"' in line
        ]
        if sum(unknown) >= 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sum(unknown) >= 200
    assert len(metrics.encode()) < 200_000
    assert "m" * 300 not in metrics
    labels = {line.split('model="')[1].split('"')[0] for line in metrics.splitlines() if 'model="' in line}
    assert labels <= {"__unknown__", "mock-echo", ""}, labels
