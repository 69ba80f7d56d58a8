"""``llmgate serve`` and ``llmgate logs`` as real processes, the way a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from support.gateway import free_port
from support.upstream import FakeUpstream

LLMGATE = [sys.executable, "-m", "llmgate.cli.main"]
MASTER = "sk-cli-master-key"


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMGATE, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def write_config(path: Path, upstream: FakeUpstream, **extra: Any) -> Path:
    config = {
        "model_list": [
            {
                "model_name": "gpt-4o-mini",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": upstream.base_url,
                    "api_key": "os.environ/CLI_TEST_UPSTREAM_KEY",
                },
            }
        ],
        "general_settings": {"master_key": MASTER},
        "litellm_settings": {"set_verbose": False, "success_callback": ["langfuse"]},
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path


class Served:
    def __init__(self, config: Path, tmp_path: Path, *extra: str) -> None:
        self.port = free_port()
        self.log_path = tmp_path / "serve.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [*LLMGATE, "serve", "--config", str(config), "--port", str(self.port), *extra],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "CLI_TEST_UPSTREAM_KEY": "sk-upstream-from-env"},
            )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, seconds: float = 20) -> float:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("gateway never became healthy:\n" + self.output())

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(20)


@pytest.fixture
def served(tmp_path: Path, upstream: FakeUpstream) -> Iterator[tuple[Served, Path]]:
    config = write_config(tmp_path / "config.yaml", upstream)
    server = Served(config, tmp_path)
    server.wait_healthy()
    yield server, config
    server.stop()


def test_serve_then_logs_json(served: tuple[Served, Path], upstream: FakeUpstream) -> None:
    server, config = served
    messages: Any = [{"role": "user", "content": "Name a prime number."}]
    with openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER, max_retries=0) as client:
        via = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        streamed = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
            if c.choices
        )
    straight = upstream.client().chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert via.choices[0].message.content == straight.choices[0].message.content == streamed
    assert upstream.received[0].headers["Authorization"] == "Bearer sk-upstream-from-env"

    server.stop()  # a clean shutdown drains the recorder: both calls are in the store
    result = run("logs", "--config", str(config), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 2
    by_stream = {r["stream"]: r for r in rows}
    plain, stream = by_stream[False], by_stream[True]
    assert plain["prompt_tokens"] == via.usage.prompt_tokens  # type: ignore[union-attr]
    assert plain["completion_tokens"] == via.usage.completion_tokens  # type: ignore[union-attr]
    assert Decimal(plain["cost_usd"]) > 0 and plain["latency_ms"] > 0  # cost: an exact decimal string
    assert stream["tokens_estimated"] is True and stream["ttft_ms"] > 0 and Decimal(stream["cost_usd"]) > 0
    assert plain["path"][0]["deployment"] == stream["path"][0]["deployment"]

    assert "sk-upstream-from-env" not in server.output() and MASTER not in server.output()
    warning = [line for line in server.output().splitlines() if "not implemented" in line]
    assert len(warning) == 1
    assert "litellm_settings.set_verbose" in warning[0] and "litellm_settings.success_callback" in warning[0]

    table = run(
        "logs", "--config", str(config), "--model", "gpt-4o-mini", "--status", "success", "--limit", "1"
    )
    assert table.returncode == 0 and "gpt-4o-mini" in table.stdout
    assert (
        json.loads(run("logs", "--config", str(config), "--format", "json", "--status", "error").stdout) == []
    )
    assert len(json.loads(run("logs", "--format", "json", env={"LLMGATE_CONFIG": str(config)}).stdout)) == 2


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        (
            "model_list:\n  - model_name: x\n    litellm_params:\n      model: openai/x\n      api_bse: y\n",
            "api_bse",
        ),
        ("general_settings:\n  master_key: os.environ/NOT_SET_FOR_CLI_TEST\n", "NOT_SET_FOR_CLI_TEST"),
        ("model_list: [\n", "line 2"),
    ],
)
def test_serve_with_broken_config_stops_with_one_line(tmp_path: Path, config_text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(config_text)
    result = run("serve", "--config", str(path), "--port", str(free_port()), timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_usage_errors(tmp_path: Path) -> None:
    no_config = run("logs", env={"LLMGATE_CONFIG": ""})
    assert no_config.returncode == 2 and no_config.stderr.strip().startswith("error: no config file")
    config = tmp_path / "c.yaml"
    config.write_text("{}\n")
    bad_since = run("logs", "--config", str(config), "--since", "yesterday-ish")
    assert bad_since.returncode == 2 and "--since" in bad_since.stderr
    missing = run("logs", "--config", str(tmp_path / "missing.yaml"))
    assert missing.returncode == 2 and "config file not found" in missing.stderr


def test_db_commands(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("{}\n")
    assert "needs `llmgate db upgrade`" in run("db", "status", "--config", str(config)).stdout
    upgraded = run("db", "upgrade", "--config", str(config))
    assert upgraded.returncode == 0, upgraded.stderr
    assert "up to date" in run("db", "status", "--config", str(config)).stdout


def test_two_workers_record_every_request_once(tmp_path: Path, upstream: FakeUpstream) -> None:
    import asyncio

    config = write_config(tmp_path / "config.yaml", upstream)
    server = Served(config, tmp_path, "--workers", "2")
    try:
        server.wait_healthy(40)

        async def burst() -> list[str]:
            headers = {"Authorization": f"Bearer {MASTER}"}
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
                replies = await asyncio.gather(
                    *[client.post("/v1/chat/completions", json=body) for _ in range(200)]
                )
            assert all(r.status_code == 200 for r in replies)
            return [r.headers["x-llmgate-request-id"] for r in replies]

        ids = asyncio.run(burst())
    finally:
        server.process.terminate()  # SIGTERM: the supervisor stops its workers, which drain their recorders
        server.process.wait(30)
    rows = json.loads(run("logs", "--config", str(config), "--format", "json", "--limit", "1000").stdout)
    assert sorted(r["id"] for r in rows) == sorted(ids)


def _requests_total(url: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url + "/metrics", timeout=10, headers={"Connection": "close"}).text
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "llmgate_requests_total" and s.labels.get("model") == "gpt-4o-mini"
    )


def test_metrics_count_every_worker(tmp_path: Path, upstream: FakeUpstream) -> None:
    """With --workers 2 a scrape reaches one worker; it still reports both workers' requests."""
    server = Served(write_config(tmp_path / "config.yaml", upstream), tmp_path, "--workers", "2")
    try:
        server.wait_healthy(40)
        sent = 24
        for _ in range(sent):  # a new connection each time, so both workers take some
            with openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER, max_retries=2) as client:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
        deadline = time.monotonic() + 30
        seen = 0.0
        while time.monotonic() < deadline and seen != sent:
            seen = _requests_total(server.url)
            time.sleep(0.5)
        assert seen == sent, server.output()
        assert [_requests_total(server.url) for _ in range(6)] == [sent] * 6  # whichever worker answers
        # and both workers did serve some: each published a share of the total
        import pickle

        shares = [
            sum(
                v
                for (name, _), v in pickle.loads(p.read_bytes())["c"].items()
                if name == "llmgate_requests_total"
            )
            for p in (tmp_path / ".llmgate-spill" / f"metrics-{server.port}").glob("worker-*.pickle")
        ]
        assert len([n for n in shares if n]) == 2 and sum(shares) == sent, shares
    finally:
        server.stop()
