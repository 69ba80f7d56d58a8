"""An idle gateway and its writer process do not poll: well under 1% of a core between them.

``llmgate serve`` (the default config's models, SQLite) answers one request, is left to finish
its start-up work (schema, price map), and is then measured for 10 s: user + system CPU time of
the gateway and every process below it, from ``/proc/<pid>/stat``. CPU time, not wall time, so a
loaded machine does not inflate the figure. The writer used to poll every 5 ms (2-7% of a core
on its own); the bound, 1%, leaves a wide margin either way. ``benchmarks/idle_cpu.py`` reports
the figure itself (20 s).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from support.gateway import free_port, wait_healthy

TICKS = os.sysconf("SC_CLK_TCK")
WINDOW_S = 10.0
BOUND_PERCENT = 1.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]


def _stat(pid: int) -> tuple[int, int]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def tree(root: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = _stat(int(entry.name))[0]
            except (OSError, ValueError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += _stat(pid)[1]
        except (OSError, ValueError):
            continue
    return total


def test_an_idle_gateway_and_its_writer_use_under_one_percent_of_a_core(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
                "llmgate": {
                    "database_url": f"sqlite:///{tmp_path / 'llmgate.db'}",
                    "spill_dir": str(tmp_path / "spill"),
                },
            }
        )
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gateway = subprocess.Popen(
        [sys.executable, "-m", "llmgate.cli.main", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(base)
        body = {"model": "mock-echo", "messages": [{"role": "user", "content": "hello"}]}
        assert httpx.post(base + "/v1/chat/completions", json=body, timeout=10).status_code == 200
        pids = tree(gateway.pid)
        assert len(pids) >= 2  # the gateway and its writer process
        # start-up work (migrations, the price map) finishes: wait for two quiet half-seconds, at most 30 s
        deadline, quiet, last = time.monotonic() + 30, 0, ticks(pids)
        while quiet < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            now = ticks(pids)
            quiet = quiet + 1 if now - last <= 1 else 0
            last = now
        before, started = ticks(pids), time.monotonic()
        time.sleep(WINDOW_S)
        used_s = (ticks(pids) - before) / TICKS
        elapsed = time.monotonic() - started
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
    percent = 100 * used_s / elapsed
    assert percent < BOUND_PERCENT, (
        f"idle gateway + writer used {percent:.2f}% of a core over {elapsed:.1f} s"
    )
