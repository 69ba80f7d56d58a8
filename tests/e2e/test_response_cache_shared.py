"""The response cache in Redis, shared by gateway processes and surviving Redis's failures, and
its administration (``llmgate cache stats | clear``, ``/admin/cache/...``).

Redis tests use ``LLMGATE_TEST_REDIS_URL`` with a namespace of their own; the failure tests start a
``redis-server`` of their own on a free port, to kill or stop it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from e2e.test_proxy import MESSAGES
from e2e.test_response_cache import MODEL, ask, cache_config, numbered, wait_stored
from llmgate.cache.keys import space_key
from llmgate.cache.semantic_vectors import vector_key
from llmgate.cli.main import app
from support.configs import MASTER_KEY
from support.gateway import RunningGateway, free_port
from support.keys import add_key, add_team
from support.served import ServedGateway
from support.upstream import FakeUpstream


def redis_config(upstream: FakeUpstream, url: str, **cache: Any) -> dict[str, Any]:
    namespace = f"test-{os.urandom(4).hex()}"
    config = cache_config(upstream, cache=cache or None, redis_url=url, namespace=namespace)
    config["litellm_settings"]["cache_params"]["type"] = "redis"
    return config


@pytest.mark.redis
def test_two_gateway_processes_share_the_redis_cache(
    upstream: FakeUpstream, redis_url: str, tmp_path: Path
) -> None:
    numbered(upstream)
    config = redis_config(upstream, redis_url)
    first = ServedGateway(config, tmp_path / "a").start() if (tmp_path / "a").mkdir() is None else None
    second = ServedGateway(config, tmp_path / "b").start() if (tmp_path / "b").mkdir() is None else None
    assert first is not None and second is not None
    try:
        import openai

        def chat(gateway: ServedGateway) -> Any:
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0)
            with client:
                return client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)

        # a fresh process's first Redis lookup may pass the 5 ms bound (a bypass); its answer is kept all the same
        miss = chat(first)
        assert miss.headers["x-llmgate-cache"] in ("miss", "bypass")
        # kept in the background: until it is in Redis, the second process would miss and keep its own
        deadline = time.monotonic() + 5
        admin = {"authorization": f"Bearer {MASTER_KEY}"}
        while not httpx.get(first.url + "/admin/cache/stats", headers=admin).json()["entries"]:
            assert time.monotonic() < deadline, "the first answer was never kept"
            time.sleep(0.02)
        deadline = time.monotonic() + 5
        while (hit := chat(second)).headers["x-llmgate-cache"] != "hit" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hit.headers["x-llmgate-cache"] == "hit"
        assert hit.parse().choices[0].message.content == miss.parse().choices[0].message.content
        reached = len(upstream.received)
        assert chat(second).headers["x-llmgate-cache"] == "hit"  # the shared entry: no upstream call
        assert len(upstream.received) == reached and upstream.received[-1].body["messages"] == MESSAGES
    finally:
        first.stop()
        second.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A ``redis-server`` of this test's own on a free port (to kill or stop), and its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    client.close()
    try:
        yield process, f"redis://127.0.0.1:{port}/0"
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(10)


def _errors(gateway: RunningGateway) -> float:
    text = gateway.get("/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("llmgate_cache_errors_total{")
    )


def test_requests_succeed_when_redis_dies_or_stalls(
    upstream: FakeUpstream, gateway_factory: Any, own_redis: tuple[subprocess.Popen[bytes], str]
) -> None:
    process, url = own_redis
    numbered(upstream)
    gateway = gateway_factory(redis_config(upstream, url, lookup_timeout_ms=50))
    assert ask(gateway)[1]["x-llmgate-cache"] == "miss"
    wait_stored(gateway)
    assert ask(gateway)[1]["x-llmgate-cache"] == "hit"
    process.send_signal(signal.SIGSTOP)  # a Redis that no longer answers: each lookup is cut short
    for i in range(5):
        started = time.perf_counter()
        text, headers = ask(gateway, messages=[{"role": "user", "content": f"stalled {i}"}])
        assert headers["x-llmgate-cache"] in ("bypass", "miss") and text.startswith("Upstream says")
        assert time.perf_counter() - started < 0.5  # the upstream answers at once; Redis's wait is bounded
    assert _errors(gateway) >= 1
    # the hot entry still answers from this replica's near copy while Redis is skipped
    assert ask(gateway)[1]["x-llmgate-cache"] == "hit"
    process.send_signal(signal.SIGCONT)
    process.kill()  # and now gone altogether
    process.wait(10)
    for i in range(5):
        text, headers = ask(gateway, messages=[{"role": "user", "content": f"dead {i}"}])
        assert headers["x-llmgate-cache"] in ("bypass", "miss") and text.startswith("Upstream says")
    assert ask(gateway)[1]["x-llmgate-cache"] == "hit"  # Redis gone: the near copy, within near_ttl_s
    assert len(upstream.received) == 11


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["cache", *args])


def test_cli_stats_and_clear_against_a_running_gateway(upstream: FakeUpstream, gateway_factory: Any) -> None:
    gateway = gateway_factory(cache_config(upstream))
    add_team(gateway.state.engine, "search")
    key, _ = add_key(gateway.state.engine, "search", team_id="search")
    ask(gateway)
    ask(gateway, key)
    wait_stored(gateway)
    ask(gateway)
    where = ["--base-url", gateway.url, "--api-key", MASTER_KEY]
    result = _cli("stats", *where, "--format", "json")
    assert result.exit_code == 0, result.output
    import orjson

    stats = orjson.loads(result.output)
    assert stats["backend"] == "local" and stats["entries"] >= 1 and stats["bytes"] > 0
    assert stats["models"][MODEL]["hit"] >= 1 and stats["models"][MODEL]["miss"] == 2
    table = _cli("stats", *where)
    assert table.exit_code == 0 and "local" in table.output and MODEL in table.output
    deadline = time.monotonic() + 5
    while orjson.loads(_cli("stats", *where, "--format", "json").output)["entries"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cleared = _cli("clear", "--team", "search", *where)
    assert cleared.exit_code == 0 and cleared.output.startswith("cleared 1 cached answer")
    assert ask(gateway)[1]["x-llmgate-cache"] == "hit"  # the master key's scope was kept
    assert ask(gateway, key)[1]["x-llmgate-cache"] == "miss"
    assert _cli("clear", "--model", MODEL, *where).exit_code == 0
    assert ask(gateway)[1]["x-llmgate-cache"] == "miss"


def test_cli_errors_are_one_line(upstream: FakeUpstream, gateway_factory: Any) -> None:
    gateway = gateway_factory(cache_config(upstream))
    wrong = _cli("stats", "--base-url", gateway.url, "--api-key", "sk-wrong-key-0000000000")
    assert wrong.exit_code == 1 and wrong.output.count("\n") == 1 and "401" in wrong.output
    down = _cli("stats", "--base-url", f"http://127.0.0.1:{free_port()}", "--api-key", MASTER_KEY)
    assert down.exit_code == 1 and "cannot reach the gateway" in down.output


def test_the_admin_api_is_for_admins(upstream: FakeUpstream, gateway_factory: Any) -> None:
    gateway = gateway_factory(cache_config(upstream))
    key, _ = add_key(gateway.state.engine, "plain")
    for path, method in (("/admin/cache/stats", gateway.get), ("/admin/cache/clear", gateway.post)):
        assert method(path, headers={"authorization": f"Bearer {key}"}).status_code == 403
    admin = {"authorization": f"Bearer {MASTER_KEY}"}
    assert gateway.post("/admin/cache/clear", json={"model": MODEL}, headers=admin).json()["cleared"] == 0
    assert gateway.post("/admin/cache/clear", json={"modle": MODEL}, headers=admin).status_code == 400


@pytest.mark.redis
def test_cli_works_on_redis_from_the_config(upstream: FakeUpstream, redis_url: str, tmp_path: Path) -> None:
    import redis
    import yaml

    config = redis_config(upstream, redis_url)
    gateway = RunningGateway(config, tmp_path).start()
    try:
        ask(gateway)
        wait_stored(gateway)
    finally:
        gateway.stop()
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    stats = _cli("stats", "--config", str(path))
    assert stats.exit_code == 0 and "redis" in stats.output
    # a semantic vector a gateway persisted beside the entry (its layout: semantic_vectors.py)
    namespace = config["litellm_settings"]["cache_params"]["namespace"]
    vector = vector_key(space_key(namespace, MODEL, "global", "rest"), "text")
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(vector, b"{}", px=60_000)
        cleared = _cli("clear", "--model", MODEL, "--config", str(path))
        assert cleared.exit_code == 0 and cleared.output.startswith("cleared 1 cached answer")
        assert client.exists(vector) == 0  # the vectors went with the entries
        assert client.keys(f"{namespace}:*") == []
    finally:
        client.delete(vector)
        client.close()
