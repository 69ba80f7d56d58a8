"""An idle gateway and its writer process do not poll: under 2% of a core between them.

``llmgate serve`` (the default config's models, SQLite) answers one request, is left to finish
its start-up work (schema, price map), and is then measured for two windows of 10 s: user +
system CPU time of the gateway and every process below it, from ``/proc/<pid>/stat``. CPU time,
not wall time, so a loaded machine does not inflate the figure much. The quieter window is held
to the bound: a poller spends in both, and one window may catch a one-off burst. The writer used
to poll every 5 ms (2-7% of a core on its own, more with the gateway). The bound was 1% until
2026-12-07: on a 2-core Intel Xeon, the same tree measured 0.5-1.0% when this test ran alone, but
1.10% and then 1.30%/1.40% late in the whole suite (whose cause was not found), so 1% no longer
told a poller from an idle gateway there. ``benchmarks/idle_cpu.py`` reports the figure (20 s).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from support.gateway import free_port, wait_healthy
from support.proc_cpu import TICKS, ticks, tree

WINDOW_S = 10.0
#: windows measured one after the other; the quietest is held to the bound
WINDOWS = 2
BOUND_PERCENT = 2.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]


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
        windows = []  # (CPU seconds, wall seconds) of each window
        for _ in range(WINDOWS):
            before, started = ticks(pids), time.monotonic()
            time.sleep(WINDOW_S)
            windows.append(((ticks(pids) - before) / TICKS, time.monotonic() - started))
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
    # a poller spends in every window; a one-off burst (a collection, an hourly job's tick) in one
    percents = [100 * used_s / elapsed for used_s, elapsed in windows]
    assert min(percents) < BOUND_PERCENT, (
        f"idle gateway + writer used {', '.join(f'{p:.2f}%' for p in percents)} of a core in "
        f"{WINDOWS} windows of {WINDOW_S:.0f} s"
    )
