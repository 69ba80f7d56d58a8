"""CPU an idle gateway burns: ``llmgate serve --config configs/default.yaml`` and its writer process.

    python benchmarks/idle_cpu.py                  # 20 s window, prints the figures
    python benchmarks/idle_cpu.py --record         # and replaces the "Idle CPU" section of RESULTS.md

The config is copied to a temporary directory (its SQLite store and spill directory land there),
the gateway is started on a free loopback port, answers one request (so the writer process has
done its start-up work: schema, price map), and is then left alone for ``--settle`` seconds. Over
the next ``--seconds`` seconds the user + system CPU time of the gateway and of every process
below it (the writer) is read from ``/proc/<pid>/stat``; the figure is that time as a percentage
of one core. Linux only.

The warm-up request uses the config's master key; ``--virtual-key`` creates a virtual key with
``llmgate keys create`` and makes it with that key instead. Either way the gateway's key registry
is loaded at start (the config has a master key) and keeps itself current from the store, as it
does in production.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

BENCH = Path(__file__).resolve().parent
CONFIG = BENCH.parent / "configs" / "default.yaml"
TITLE = "## Idle CPU"
_TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> tuple[int, int]:
    """(parent pid, utime + stime in clock ticks) of ``pid``."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), int(fields[11]) + int(fields[12])


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it."""
    parents: dict[int, int] = {}
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


def cpu_ticks(pids: list[int]) -> dict[int, int]:
    out = {}
    for pid in pids:
        try:
            out[pid] = _stat(pid)[1]
        except (OSError, ValueError):
            continue
    return out


def _virtual_key(config: Path) -> str:
    cli = [sys.executable, "-m", "llmgate.cli.main", "keys", "create", "--alias", "idle", "--format", "json"]
    created = subprocess.run([*cli, "--config", str(config)], capture_output=True, text=True, check=True)
    return str(json.loads(created.stdout)["key"])


def measure(seconds: float, settle: float, *, virtual_key: bool = False) -> dict[str, float]:
    """Start the gateway, let it settle, and return % of a core for the gateway and its children."""
    with tempfile.TemporaryDirectory(prefix="llmgate-idle-") as tmp:
        config = Path(tmp) / "configs" / "default.yaml"  # its store is ../llmgate.db: inside tmp
        config.parent.mkdir()
        shutil.copy(CONFIG, config)
        key = (
            _virtual_key(config)
            if virtual_key
            else yaml.safe_load(CONFIG.read_text())["general_settings"]["master_key"]
        )
        headers = {"authorization": f"Bearer {key}"}
        port = _free_port()
        command = [sys.executable, "-m", "llmgate.cli.main", "serve", "--config", str(config)]
        gateway = subprocess.Popen(
            [*command, "--port", str(port), "--log-level", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("the gateway did not start")
            body = {"model": "mock-echo", "messages": [{"role": "user", "content": "hello"}]}
            httpx.post(
                base + "/v1/chat/completions", json=body, headers=headers, timeout=10
            ).raise_for_status()
            time.sleep(settle)
            pids = descendants(gateway.pid)
            before = cpu_ticks(pids)
            started = time.monotonic()
            time.sleep(seconds)
            after = cpu_ticks(pids)
            elapsed = time.monotonic() - started
        finally:
            gateway.send_signal(signal.SIGTERM)
            try:
                gateway.wait(30)
            except subprocess.TimeoutExpired:
                gateway.kill()
    used = {pid: (after[pid] - before[pid]) / _TICKS for pid in after if pid in before}
    gateway_s = used.get(gateway.pid, 0.0)
    children_s = sum(v for pid, v in used.items() if pid != gateway.pid)
    return {
        "seconds": elapsed,
        "gateway": 100 * gateway_s / elapsed,
        "writer": 100 * children_s / elapsed,
        "total": 100 * (gateway_s + children_s) / elapsed,
        "processes": float(len(used)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--virtual-key", action="store_true", help="authenticate with a virtual key")
    parser.add_argument("--record", action="store_true", help="write the section of RESULTS.md")
    parser.add_argument("--note", default="", help="a line to add under the table (with --record)")
    args = parser.parse_args()
    result = measure(args.seconds, args.settle, virtual_key=args.virtual_key)
    print(
        f"idle over {result['seconds']:.1f} s: gateway {result['gateway']:.2f}% + writer and other "
        f"children {result['writer']:.2f}% = {result['total']:.2f}% of one core "
        f"({int(result['processes'])} processes)"
    )
    if args.record:
        sys.path.insert(0, str(BENCH))
        from _common import write_section

        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = (
            f"{TITLE}\n\nRun {when} with `python benchmarks/idle_cpu.py --seconds {args.seconds:g}`; "
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
            "`llmgate serve --config configs/default.yaml` after one request and "
            f"{args.settle:g} s of rest; user + system CPU from `/proc/<pid>/stat` over the window, "
            "as % of one core.\n\n"
            "| process | % of a core |\n| --- | ---: |\n"
            f"| gateway | {result['gateway']:.2f} |\n| writer process | {result['writer']:.2f} |\n"
            f"| total | {result['total']:.2f} |\n"
        )
        if args.note:
            text += f"\n{args.note}\n"
        write_section(text, TITLE)


if __name__ == "__main__":
    main()
