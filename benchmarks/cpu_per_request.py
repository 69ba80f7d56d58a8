"""CPU per request of every process on the path, bare passthrough against llmgate, at c=64.

    python benchmarks/cpu_per_request.py [--seconds 10] [--stream] [--rounds 2]

The same upstream (nginx) and config as ``benchmarks/run.py``. wrk drives 64 connections at the
bare aiohttp passthrough, then at ``llmgate serve`` recording to SQLite; each process's user +
system CPU over the run (from /proc; wrk's from this process's children) is divided by the
requests served. What it shows: whether a contender is bound by one process (its µs per request
times its req/s near 1,000,000: one core) or by the machine (the sum over processes near two
cores), and so what a cut in one process's work can buy. Prints a Markdown table; run it on a
quiet machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml
from profile_serve import children, cpu_seconds
from run import BENCH, WORK, Nginx, free_port, gateway_config, serve_command, stop, wait_healthy, wrk

CHAT_PATH = "/v1/chat/completions"


def measure(
    process: subprocess.Popen[bytes], port: int, nginx: Nginx, stream: bool, seconds: int
) -> dict[str, float]:
    """req/s and CPU µs per request of the contender, its children, nginx's worker and wrk."""
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url + "/health", process)
    wrk(url, CHAT_PATH, 64, 2, stream)  # warm-up: pools, caches, the writer process
    pids = {"server": process.pid, "nginx": children(nginx.process.pid)[0]}
    pids.update({f"child {i + 1}": pid for i, pid in enumerate(children(process.pid))})
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    start = os.times()
    result = wrk(url, CHAT_PATH, 64, seconds, stream)
    end = os.times()
    served = result["requests"]
    out = {name: (cpu_seconds(pid) - before[name]) * 1e6 / served for name, pid in pids.items()}
    wrk_cpu = (end.children_user - start.children_user) + (end.children_system - start.children_system)
    out["wrk"] = wrk_cpu * 1e6 / served
    out["rps"] = result["rps"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--rounds", type=int, default=2, help="each contender this many times, alternating")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    nginx = Nginx()
    nginx.start()
    rows: list[tuple[str, dict[str, float]]] = []
    try:
        upstream = f"http://127.0.0.1:{nginx.port}"
        for _ in range(args.rounds):
            port = free_port()
            bare = subprocess.Popen(
                [sys.executable, str(BENCH / "bare_passthrough.py"), upstream, str(port)],
                stderr=subprocess.DEVNULL,
            )
            try:
                rows.append(("bare passthrough", measure(bare, port, nginx, args.stream, args.seconds)))
            finally:
                stop(bare)
            database = WORK / "cpu-per-request.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
            config = WORK / "cpu-per-request.yaml"
            config.write_text(yaml.safe_dump(gateway_config(nginx.port, f"sqlite:///{database}")))
            port = free_port()
            gateway = subprocess.Popen(
                serve_command(config, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                rows.append(("llmgate (SQLite)", measure(gateway, port, nginx, args.stream, args.seconds)))
            finally:
                stop(gateway)
    finally:
        nginx.stop()
    print(f"{'streamed' if args.stream else 'plain'}, c=64, {args.seconds} s a run\n")
    print("| contender | req/s | server µs | its child (writer) µs | nginx µs | wrk µs | all µs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, row in rows:
        child = sum(v for k, v in row.items() if k.startswith("child"))
        total = row["server"] + child + row["nginx"] + row["wrk"]
        print(
            f"| {name} | {row['rps']:,.0f} | {row['server']:.0f} | {child:.0f} | {row['nginx']:.0f} "
            f"| {row['wrk']:.0f} | {total:.0f} |"
        )


if __name__ == "__main__":
    main()
