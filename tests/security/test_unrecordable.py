"""Item 2: a record is confirmed only once it is stored or fsynced; when nothing can take records,
readiness, the log and the metrics say so, and ``on_unrecordable`` decides what clients get.

Real faults, on a real ``llmgate serve`` and its writer process: the SQLite store's directory and
the spill directory are made immutable (``chattr +i``; CI runs as root, for whom a read-only mode
stops nothing), so the store cannot even be created and no spill file can be. Requests are
served, their records can go nowhere, and the writer is killed with SIGKILL. Nothing confirmed is
lost: the gateway still holds every record the writer did not confirm, hands them to the next
writer, and they are stored once the store's directory is writable again.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from llmgate.store.db import create_engine_for
from llmgate.store.records import list_records
from support.gateway import free_port, wait_healthy

MESSAGES = [{"role": "user", "content": "keep me"}]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr (e2fsprogs)"),
]


def chattr(flag: str, *paths: Path) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Callable[..., None]]:
    """``immutable(path, ...)``: make directories immutable for the test (undone afterwards)."""
    made: list[Path] = []

    def make(*paths: Path) -> None:
        chattr("+i", *paths)
        made.extend(paths)

    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        chattr("+i", probe)
    except (subprocess.CalledProcessError, OSError):
        pytest.skip("this filesystem does not support chattr +i")
    try:
        (probe / "file").touch()
    except PermissionError:
        pass
    else:
        pytest.skip("an immutable directory still takes files here")
    finally:
        chattr("-i", probe)
    yield make
    if made:
        chattr("-i", *made)


def until(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def metric(base: str, name: str) -> float:
    text = httpx.get(base + "/metrics", timeout=10).text
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, f"{name} not exposed"
    return float(match.group(1))


def writer_pid(gateway: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == gateway and b"writer_child" in cmdline:
            return int(entry.name)
    return None


@pytest.mark.parametrize("policy", ["serve", "refuse"])
def test_a_writer_killed_while_nothing_takes_records_loses_nothing(
    policy: str, tmp_path: Path, immutable: Callable[..., None]
) -> None:
    store, spill = tmp_path / "store", tmp_path / "spill"
    store.mkdir()
    spill.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
                "llmgate": {
                    "database_url": f"sqlite:///{store / 'llmgate.db'}",
                    "spill_dir": str(spill),
                    "recorder": {
                        "flush_interval_s": 0.02,
                        "retry_interval_s": 0.2,
                        "on_unrecordable": policy,
                    },
                },
            }
        )
    )
    immutable(store, spill)  # the store cannot be created, nor any spill file
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log_file:
        gateway = subprocess.Popen(
            [sys.executable, "-m", "llmgate.cli.main", "serve", "--config", str(config), "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    client = openai.OpenAI(base_url=base + "/v1", api_key="sk-anything", max_retries=0, timeout=20)

    def ask() -> str | openai.InternalServerError:
        try:
            raw = client.chat.completions.with_raw_response.create(model="mock-echo", messages=MESSAGES)
        except openai.InternalServerError as exc:
            return exc
        return str(raw.headers["x-llmgate-request-id"])

    def readiness() -> httpx.Response:
        return httpx.get(base + "/health/readiness", timeout=10)

    try:
        wait_healthy(base)
        answers = [ask() for _ in range(20)]
        served = [a for a in answers if isinstance(a, str)]
        assert served and (policy == "refuse" or len(served) == 20)
        if policy == "serve":  # more records while the held ones are retried (every 0.2 s)
            until(lambda: metric(base, "llmgate_records_at_risk") > 0, "the first records to be held")
            for _ in range(40):
                answer = ask()
                assert isinstance(answer, str), answer
                served.append(answer)
                time.sleep(0.02)
        until(lambda: metric(base, "llmgate_records_at_risk") == len(served), "the records to be held")
        unconfirmed = readiness().json()["recorder"]["queued"]
        assert unconfirmed == len(served)  # the writer confirmed none: the gateway keeps them all
        first = writer_pid(gateway.pid)
        assert first is not None
        os.kill(first, signal.SIGKILL)  # with every record only in memory
        until(
            lambda: log_path.read_text().count("records can be neither stored") >= 2,
            "a new writer to hold them",
        )
        assert writer_pid(gateway.pid) not in (None, first)

        ready = readiness()
        assert ready.status_code == 503
        body = ready.json()
        assert body["recording"] == "unavailable" and "neither stored" in body["detail"]
        assert body["recorder"]["at_risk"] == len(served) and body["recorder"]["lost"] == 0
        assert body["recorder"]["writer_restarts"] == 1
        assert metric(base, "llmgate_records_at_risk") == len(served)
        assert metric(base, "llmgate_records_lost_total") == 0
        log = log_path.read_text()
        assert re.search(r"ERROR llmgate\.recording\.recorder: recorder: records can be neither stored", log)
        assert re.search(
            r"ERROR llmgate\.recording\.writer: recorder: the writer process exited \(code -9\)", log
        )
        assert "lost" not in log

        now = ask()  # a new request while no record can be kept
        if policy == "refuse":
            assert isinstance(now, openai.InternalServerError), now
            assert now.status_code == 503 and now.response.headers["retry-after"]
            assert now.body["type"] == "server_error"  # type: ignore[index]
            assert now.body["code"] == "recording_unavailable"  # type: ignore[index]
        else:
            assert isinstance(now, str)
            served.append(now)

        chattr("-i", store)  # the store can be created again: the held records go in
        until(lambda: readiness().status_code == 200, "readiness to recover")
        until(lambda: metric(base, "llmgate_records_at_risk") == 0, "the held records to be stored")
        after = ask()
        assert isinstance(after, str), after  # served again, whatever the policy
        served.append(after)
    finally:
        client.close()
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
    engine = create_engine_for(f"sqlite:///{store / 'llmgate.db'}")
    try:
        stored = [row["id"] for row in list_records(engine, limit=10_000)]
    finally:
        engine.dispose()
    assert sorted(stored) == sorted(served)  # every confirmed record, each once
    assert "could be neither stored nor spilled and are lost" not in log_path.read_text()
