"""What the server injects into the canary controller (server/canary_eval.py): the eval gate's runner
runs a suite through a real gateway against both arms of a canary (the arm forced with the master
key) and fails the gate on a paired regression; the drift test tells answer embeddings of another
distribution from stable's, and not those of the same one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from llmgate.config import parse_config
from llmgate.server.canary_eval import HttpEvalGateRunner, drift_test
from support.configs import MASTER_KEY
from support.gateway import RunningGateway

WORDS = [
    "Canberra",
    "Au",
    "Jupiter",
    "Austen",
    "Everest",
    "Nile",
    "Tokyo",
    "Oxygen",
    "Pacific",
    "Mars",
    "Paris",
    "Gold",
]


def suite(path: Path) -> Path:
    cases = [
        {"id": f"case-{i}", "vars": {"word": word}, "assert": [{"type": "icontains", "value": word}]}
        for i, word in enumerate(WORDS)
    ]
    path.write_text(
        yaml.safe_dump({"name": "echo-words", "prompt": {"user": "Say {{word}}"}, "cases": cases})
    )
    return path


def gateway_with(gateway_factory: Callable[..., RunningGateway], candidate: dict[str, Any]) -> RunningGateway:
    config = {
        "model_list": [
            {"model_name": "chat-model", "litellm_params": {"model": "mock/echo"}},
            {"model_name": "chat-model-v2", "litellm_params": candidate},
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gateway = gateway_factory(config)
    started = httpx.post(
        gateway.url + "/admin/canaries",
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "chat-model", "candidate": "chat-model-v2", "steps": [10, 100]},
        timeout=10,
    )
    assert started.status_code == 201, started.text
    client = gateway.client(MASTER_KEY)

    def followed() -> bool:
        raw = client.chat.completions.with_raw_response.create(
            model="chat-model", messages=[{"role": "user", "content": "x"}]
        )
        return raw.headers.get("x-llmgate-canary") is not None

    deadline = time.monotonic() + 20  # the follower reads the store through the writer process
    while time.monotonic() < deadline:
        if followed():
            return gateway
        time.sleep(0.05)
    raise AssertionError("the gateway never routed through the canary")


@pytest.mark.parametrize(
    ("candidate", "verdict"),
    [
        ({"model": "mock/answer", "mock_response": "I would rather not say."}, "fail"),
        ({"model": "mock/echo"}, "pass"),
    ],
)
def test_the_eval_gate_compares_the_arms_through_the_gateway(
    gateway_factory: Callable[..., RunningGateway], tmp_path: Path, candidate: dict[str, Any], verdict: str
) -> None:
    gateway = gateway_with(gateway_factory, candidate)
    runner = HttpEvalGateRunner(gateway.url + "/v1", MASTER_KEY, gateway.config)
    path = str(suite(tmp_path / "words.yaml"))
    result = asyncio.run(runner.run(path, "chat-model", "candidate"))
    assert result.verdict == verdict and result.name == f"eval:{path}"
    assert (result.n_candidate, result.n_stable) == (len(WORDS), len(WORDS))
    assert result.effect == (1.0 if verdict == "fail" else 0.0)  # stable's pass rate minus the candidate's
    assert "pass rate" in result.note


def test_the_drift_test_tells_another_distribution_apart() -> None:
    test = drift_test(parse_config({}))
    if test is None:
        pytest.skip("the monitors extra (scipy, scikit-learn) is not installed")
    rng = np.random.default_rng(0)

    def unit(rows: np.ndarray) -> np.ndarray:
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    centre = rng.normal(size=32)
    stable = unit(centre + rng.normal(size=(200, 32)))
    same = unit(centre + rng.normal(size=(200, 32)))
    moved = unit(centre + 1.5 * rng.normal(size=32) + rng.normal(size=(200, 32)))
    statistic, p_value, threshold = test(moved, stable)
    assert statistic > threshold and p_value < 0.005
    statistic, p_value, threshold = test(same, stable)
    assert statistic <= threshold and p_value > 0.01
