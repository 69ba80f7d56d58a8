"""Requests with no or a wrong key are counted and logged, not stored one row each.

Through a real ``llmgate serve`` process with a master key: 20 requests with wrong keys (and a
few with none) get 401 in OpenAI's shape, no row is stored for them,
``llmgate_auth_failures_total{reason}`` on ``/metrics`` counts each, and the log sums them up
in one rate-limited line that never holds a key (at most an ``sk-lg-`` key's display prefix).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from llmgate.auth.failures import LOG_EVERY_S, AuthFailures
from support.configs import MASTER_KEY
from support.served import ServedGateway

MESSAGES: Any = [{"role": "user", "content": "hello"}]
WRONG_VIRTUAL = "sk-lg-WRONGsecretpart0123456789abcdefghijklmnopq"
WRONG_MASTER = MASTER_KEY[:-1] + "X"  # a mistyped master key: no part of it may be logged


@pytest.fixture
def served(tmp_path: Any) -> Iterator[ServedGateway]:
    config = {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gateway = ServedGateway(config, tmp_path).start()
    yield gateway
    gateway.stop()


def failures(served: ServedGateway) -> dict[str, float]:
    counts = {}
    for line in httpx.get(served.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("llmgate_auth_failures_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            counts[reason] = float(line.rsplit(" ", 1)[1])
    return counts


def test_wrong_keys_are_counted_and_logged_but_not_stored(served: ServedGateway) -> None:
    started = time.monotonic()
    for i in range(20):
        key = WRONG_VIRTUAL if i % 2 else WRONG_MASTER
        with (
            openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0, timeout=20) as client,
            pytest.raises(openai.AuthenticationError) as refused,
        ):
            client.chat.completions.create(model="mock-echo", messages=MESSAGES)
        assert refused.value.body["type"] == "authentication_error"  # type: ignore[index]
    for _ in range(3):
        missing = httpx.post(served.url + "/v1/chat/completions", json={"model": "mock-echo"}, timeout=20)
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    burst_s = time.monotonic() - started

    # a request that is recorded, so that the store has caught up with everything sent before it
    with openai.OpenAI(base_url=served.url + "/v1", api_key=MASTER_KEY, max_retries=0) as client:
        ok = client.chat.completions.with_raw_response.create(model="mock-echo", messages=MESSAGES)
    served.rows([ok.headers["x-llmgate-request-id"]])
    assert [row["status_code"] for row in served.all_rows()] == [200]

    assert failures(served) == {"invalid_api_key": 20.0, "missing_api_key": 3.0}

    deadline = time.monotonic() + 5
    while "refused for a missing or wrong API key" not in served.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = served.output()
    lines = [line for line in log.splitlines() if "refused for a missing or wrong API key" in line]
    assert 1 <= len(lines) <= 1 + burst_s / LOG_EVERY_S, log  # one line per 10 s, not one per request
    assert WRONG_VIRTUAL not in log and "WRONGsecret" not in log and MASTER_KEY[:8] not in log


def test_the_log_is_rate_limited_and_sums_up_what_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    counted: list[str] = []
    failures = AuthFailures(counted.append, log_every_s=10, clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="llmgate.auth"):
        for reason in ["invalid_api_key"] * 5 + ["missing_api_key"] * 2:
            failures.refused(reason, WRONG_VIRTUAL)
            now[0] += 1
        now[0] += 10
        failures.refused("key_revoked", "not-a-virtual-key-secret")
    assert len(counted) == 8
    first, second = (record.getMessage() for record in caplog.records)
    prefix = "requests refused for a missing or wrong API key (401, not recorded): "
    assert first == prefix + "invalid_api_key 1; last key sk-lg-WRON…"
    assert second == prefix + "invalid_api_key 4, key_revoked 1, missing_api_key 2"
    assert "secret" not in caplog.text and "WRONGsecret" not in caplog.text
