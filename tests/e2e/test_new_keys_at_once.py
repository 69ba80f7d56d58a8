"""A new key works on its very next request, on every replica; unknown keys are looked up at a bounded rate.

Two ``llmgate serve`` replicas share one store. Keys made through the admin API of one (and with
``llmgate keys create``) are used at once, through the openai SDK, on the other: every request is
answered 200, though the replica's copy of the keys is refreshed only every quarter of a second.
Keys revoked on one replica are still refused on the other soon after. A flood of random,
well-formed keys costs the store at most the lookups ``MissGate`` allows, as
``llmgate_key_lookups_total{result}`` on ``/metrics`` shows, and the same wrong key sent again and
again is looked up once.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from llmgate.auth.key_misses import BURST, LOOKUPS_PER_S
from llmgate.auth.keys import KEY_PREFIX
from support.configs import MASTER_KEY
from support.gateway import serve_replicas

MESSAGES: Any = [{"role": "user", "content": "hello"}]
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
LLMGATE = [sys.executable, "-m", "llmgate.cli.main"]


def config(tmp_path: Path) -> dict[str, Any]:
    return {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER_KEY},
        "llmgate": {
            "database_url": f"sqlite:///{tmp_path / 'shared.db'}",
            "spill_dir": str(tmp_path / "spill"),
        },
    }


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    tmp_path = tmp_path_factory.mktemp("new-keys")
    with serve_replicas(config(tmp_path), tmp_path) as (a, b):
        yield a, b, tmp_path / "config.yaml"


def status_of_a_call(base: str, key: str) -> int:
    """The status of one chat completion made with ``key`` through the openai SDK."""
    with openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=30) as client:
        try:
            answer = client.chat.completions.with_raw_response.create(model="mock-echo", messages=MESSAGES)
        except openai.APIStatusError as exc:
            return exc.status_code
    return answer.status_code


def lookups(base: str) -> dict[str, float]:
    counts = {"found": 0.0, "unknown": 0.0, "failed": 0.0, "skipped": 0.0}
    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        if line.startswith("llmgate_key_lookups_total{"):
            counts[line.split('result="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return counts


def test_keys_made_on_one_replica_work_at_once_on_the_other(replicas: tuple[str, str, Path]) -> None:
    a, b, _ = replicas
    # B has its copy of the keys already (as any replica in use has): one key it has seen
    seen = httpx.post(a + "/admin/keys", json={"alias": "seen"}, headers=AUTH, timeout=30).json()["key"]
    deadline = time.monotonic() + 20
    while status_of_a_call(b, seen) != 200:
        assert time.monotonic() < deadline, "replica B never saw the key"
        time.sleep(0.1)
    start = threading.Barrier(8)

    def make_and_use(i: int) -> tuple[str, int]:
        start.wait()
        created = httpx.post(a + "/admin/keys", json={"alias": f"new-{i}"}, headers=AUTH, timeout=30)
        assert created.status_code == 201, created.text
        key: str = created.json()["key"]
        return key, status_of_a_call(b, key)  # on the other replica, at once

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(make_and_use, range(8)))
    assert [status for _, status in results] == [200] * 8

    # revoking still takes effect on the other replica promptly (its copy follows the store)
    listed = httpx.get(a + "/admin/keys", headers=AUTH, timeout=30).json()["data"]
    for key_id in [k["id"] for k in listed if k["alias"].startswith("new-")]:
        assert httpx.post(f"{a}/admin/keys/{key_id}/revoke", headers=AUTH, timeout=30).status_code == 200
    time.sleep(1.0)
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda r: status_of_a_call(b, r[0]), results)) == [401] * 8


def test_a_key_from_the_cli_works_at_once_on_every_replica(replicas: tuple[str, str, Path]) -> None:
    a, b, config_path = replicas
    for i in range(3):
        made = subprocess.run(
            [
                *LLMGATE,
                "keys",
                "create",
                "--alias",
                f"cli-{i}",
                "--format",
                "json",
                "--config",
                str(config_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ.copy(),
        )
        assert made.returncode == 0, made.stderr
        key = json.loads(made.stdout)["key"]
        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(status_of_a_call, (a, b), (key, key))) == [200, 200]


def test_random_keys_are_looked_up_at_a_bounded_rate(replicas: tuple[str, str, Path]) -> None:
    _, b, _ = replicas
    before = lookups(b)
    started = time.monotonic()

    def random_key(_: int) -> int:
        key = KEY_PREFIX + secrets.token_urlsafe(32)  # well-formed, never made
        headers = {"Authorization": f"Bearer {key}"}
        body = {"model": "mock-echo", "messages": MESSAGES}
        return httpx.post(b + "/v1/chat/completions", json=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(random_key, range(400)))
    elapsed = time.monotonic() - started
    after = lookups(b)
    assert statuses == [401] * 400
    asked = sum(after[r] - before[r] for r in ("found", "unknown", "failed"))
    assert after["found"] == before["found"] and after["failed"] == before["failed"]
    assert 1 <= asked <= BURST + LOOKUPS_PER_S * elapsed + 1, (asked, elapsed)
    assert after["skipped"] - before["skipped"] == 400 - asked

    # the same wrong key sent again and again is asked about once
    time.sleep(BURST / LOOKUPS_PER_S + 0.1)  # the bucket is full again
    wrong = KEY_PREFIX + secrets.token_urlsafe(32)
    before = lookups(b)
    assert [status_of_a_call(b, wrong) for _ in range(5)] == [401] * 5
    after = lookups(b)
    assert (after["unknown"] - before["unknown"], after["skipped"] - before["skipped"]) == (1, 4)
