"""Chaos: a primary that fails at random and then goes down, a healthy fallback, 1,000 requests.
Every request succeeds and is recorded once with its attempts; the primary is cooled down while
it is down. Also: two gateway processes agree on cooldowns through a real Redis."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
import yaml

from e2e.test_fallbacks import config
from e2e.test_proxy import MESSAGES, records
from support.configs import MASTER_KEY
from support.gateway import RunningGateway, start_serve, wait_healthy
from support.upstream import FakeUpstream

REQUESTS = 1000


def test_chaos_run_every_request_succeeds_and_is_recorded_once(
    upstream: FakeUpstream, gateway_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = FakeUpstream().start()
    try:
        upstream.failure_rate = 0.3
        gateway: RunningGateway = gateway_factory(
            config(upstream.base_url, backup.base_url, num_retries=1, allowed_fails=5, cooldown_time=0.5)
        )
        client = gateway.client(MASTER_KEY)

        def one(i: int) -> tuple[str, int, float]:
            if i == 300:
                upstream.down = True  # the stretch where the primary is down completely
            if i == 600:
                upstream.down = False
            started = time.perf_counter()
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
            raw.parse()
            return (
                raw.headers["x-llmgate-request-id"],
                int(raw.headers["x-llmgate-attempts"]),
                time.perf_counter() - started,
            )

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(REQUESTS)))  # raises if any request failed
        gateway.flush()
        rows = records(gateway)
    finally:
        backup.stop()

    assert len(results) == REQUESTS
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == REQUESTS
    assert set(ids) == {r[0] for r in results}
    assert all(r["status"] == "success" for r in rows)
    primary_attempts = 0
    for row in rows:
        path = orjson.loads(row["attempts_json"])
        assert len(path) == row["attempts"] >= 1 and path[-1]["status"] == "success"
        assert all(a["status"] == "error" for a in path[:-1])
        primary_attempts += sum(1 for a in path if a["deployment"] == "primary")
    # Cooled down while down: far fewer tries on the primary than requests.
    assert primary_attempts < REQUESTS
    assert len(upstream.received) == primary_attempts

    direct = sorted(s for _, n, s in results if n == 1)
    fallen = sorted(s for _, n, s in results if n > 1)
    assert fallen, "the primary never failed?"

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(len(values) * q))] * 1000

    with capsys.disabled():
        print(
            f"\nchaos: {REQUESTS} requests, {REQUESTS} succeeded; primary attempts {primary_attempts}; "
            f"attempts histogram {dict(sorted({n: sum(1 for r in results if r[1] == n) for n in {r[1] for r in results}}.items()))}; "
            f"direct p50 {pct(direct, 0.5):.2f} ms p99 {pct(direct, 0.99):.2f} ms (n={len(direct)}); "
            f"with fallback p50 {pct(fallen, 0.5):.2f} ms p99 {pct(fallen, 0.99):.2f} ms (n={len(fallen)}); "
            f"mean {statistics.mean(direct) * 1000:.2f} / {statistics.mean(fallen) * 1000:.2f} ms"
        )


@pytest.mark.redis
def test_two_gateways_share_cooldowns_through_redis(
    redis_url: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    backup = FakeUpstream().start()
    suffix = uuid.uuid4().hex[:8]  # keys of other runs in the same Redis do not matter
    data = config(
        upstream.base_url,
        backup.base_url,
        num_retries=0,
        allowed_fails=1,
        cooldown_time=60,
        redis_url=redis_url,
    )
    for item in data["model_list"]:
        item["model_info"]["id"] += f"-{suffix}"
    primary = f"primary-{suffix}"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        bases = []
        for name in ("a", "b"):
            env = {**os.environ, "LLMGATE_DATABASE_URL": f"sqlite:///{tmp_path / name}.db"}
            process, base = start_serve(path, env)
            processes.append(process)
            bases.append(base)
        for base in bases:
            wait_healthy(base)
        upstream.down = True
        with openai.OpenAI(base_url=bases[0] + "/v1", api_key=MASTER_KEY, max_retries=0) as a:
            raw = a.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
            assert raw.headers["x-llmgate-attempts"] == "2"  # the primary failed once: cooled down
        tried = len(upstream.received)
        deadline = time.monotonic() + 5
        state = None
        while time.monotonic() < deadline:
            deployments = httpx.get(bases[1] + "/health/deployments").json()["deployments"]
            state = next(d for d in deployments if d["id"] == primary)["circuit"]
            if state == "open":
                break
            time.sleep(0.05)
        assert state == "open"  # b never saw a failure: it heard through Redis
        with openai.OpenAI(base_url=bases[1] + "/v1", api_key=MASTER_KEY, max_retries=0) as b:
            raw = b.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        assert raw.headers["x-llmgate-model"] == f"backup-{suffix}"
        assert raw.headers["x-llmgate-attempts"] == "1"
        assert len(upstream.received) == tried  # b skipped the primary
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        backup.stop()
