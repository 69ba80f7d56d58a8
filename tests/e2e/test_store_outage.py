"""The store dies mid-run and comes back: requests neither fail nor slow down, and every one
of them ends up recorded exactly once — also when the gateway itself crashes in between."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from sqlalchemy.engine import make_url

from llmgate.store.db import create_engine_for
from llmgate.store.records import count_records, list_records
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway, free_port
from support.postgres import postgres_schema, with_port
from support.tcp_proxy import TcpProxy
from support.upstream import FakeUpstream

FAST_RECORDER = {"flush_interval_s": 0.05, "retry_interval_s": 0.2, "batch_size": 16}
MESSAGES: Any = [{"role": "user", "content": "Are you recording this?"}]


def call(client: openai.OpenAI, i: int) -> str:
    """One request (every third one streamed); returns its record id."""
    if i % 3 == 0:
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as response:
            list(response.iter_lines())
            return str(response.headers["x-llmgate-request-id"])
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    raw.parse()
    return str(raw.headers["x-llmgate-request-id"])


def burst(client: openai.OpenAI, start: int, n: int) -> tuple[list[str], float]:
    ids, slowest = [], 0.0
    for i in range(start, start + n):
        began = time.perf_counter()
        ids.append(call(client, i))
        slowest = max(slowest, time.perf_counter() - began)
    return ids, slowest


def wait_for_rows(url: str, expected: set[str], spill_dir: Path, seconds: float = 30) -> list[dict[str, Any]]:
    engine = create_engine_for(url)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if count_records(engine) >= len(expected) and not any(spill_dir.glob("*")):
                    break
            except Exception:  # the schema may not exist yet
                pass
            time.sleep(0.2)
        return list_records(engine, limit=100_000)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_cut_mid_run(pg_url: str, upstream: FakeUpstream, gateway_factory: Any) -> None:
    target = make_url(pg_url)
    with postgres_schema(pg_url) as url, TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        gateway: RunningGateway = gateway_factory(
            upstream_config(upstream, database_url=with_port(url, proxy.port), recorder=FAST_RECORDER)
        )
        client = gateway.client(MASTER_KEY)
        before, _ = burst(client, 0, 20)
        gateway.flush()

        proxy.cut()
        during, slowest = burst(client, 20, 30)
        gateway.flush()
        assert slowest < 1.0  # a dead store does not slow requests down
        assert gateway.get("/health/readiness").status_code == 503
        assert gateway.state.recorder.stats()["spilled"] > 0

        proxy.restore()
        after, _ = burst(client, 50, 20)
        gateway.flush()
        expected = set(before + during + after)
        assert len(expected) == 70
        rows = wait_for_rows(url, expected, Path(gateway.config.llmgate.spill_dir))
        assert sorted(r["id"] for r in rows) == sorted(expected)  # each exactly once
        assert all(r["status"] == "success" for r in rows)
        assert gateway.get("/health/readiness").status_code == 200


def test_sqlite_locked_mid_run(upstream: FakeUpstream, gateway_factory: Any, tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    gateway: RunningGateway = gateway_factory(
        upstream_config(upstream, database_url=f"sqlite:///{db}", recorder=FAST_RECORDER)
    )
    client = gateway.client(MASTER_KEY)
    before, _ = burst(client, 0, 10)
    gateway.flush()
    blocker = sqlite3.connect(db, timeout=10)  # waits out a reader that is just finishing
    blocker.execute("BEGIN EXCLUSIVE")  # nobody else may write until this ends
    during, slowest = burst(client, 10, 20)
    time.sleep(0.5)
    assert slowest < 1.0
    blocker.rollback()
    blocker.close()
    after, _ = burst(client, 30, 10)
    gateway.flush()
    expected = set(before + during + after)
    rows = wait_for_rows(f"sqlite:///{db}", expected, Path(gateway.config.llmgate.spill_dir))
    assert sorted(r["id"] for r in rows) == sorted(expected)


@pytest.mark.postgres
def test_spilled_records_survive_a_crash(pg_url: str, upstream: FakeUpstream, tmp_path: Path) -> None:
    """The store is down, the gateway is killed -9 with records only on disk; the next start
    replays them."""
    target = make_url(pg_url)
    with postgres_schema(pg_url) as url, TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        config = tmp_path / "config.yaml"
        data = upstream_config(upstream, database_url=with_port(url, proxy.port), recorder=FAST_RECORDER)
        config.write_text(yaml.safe_dump(data))
        proxy.cut()

        def serve() -> tuple[subprocess.Popen[bytes], str]:
            port = free_port()
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "llmgate.cli.main",
                    "serve",
                    "--config",
                    str(config),
                    "--port",
                    str(port),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{port}"
            for _ in range(400):
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        return process, base
                except httpx.TransportError:
                    time.sleep(0.05)
            process.kill()
            raise AssertionError("gateway did not start")

        process, base = serve()
        with openai.OpenAI(base_url=base + "/v1", api_key=MASTER_KEY, max_retries=0) as client:
            ids, _ = burst(client, 0, 15)
        spill_dir = tmp_path / ".llmgate-spill"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum(f.stat().st_size for f in spill_dir.glob("*")) == 0:
            time.sleep(0.1)
        time.sleep(0.5)  # let the last batch reach the spill file
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert any(spill_dir.glob("*"))

        proxy.restore()
        process, _ = serve()
        try:
            rows = wait_for_rows(url, set(ids), spill_dir)
        finally:
            process.terminate()
            process.wait(20)
        assert sorted(r["id"] for r in rows) == sorted(ids)
