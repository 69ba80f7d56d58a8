"""Where ``llmgate serve`` spends its time under load: py-spy on the gateway at concurrency 64.

    python benchmarks/profile_serve.py [--seconds 15] [--stream] [--rate 250] [--top 25]

The same upstream (nginx) and config as ``benchmarks/run.py``'s ``llmgate (SQLite)`` contender;
wrk drives 64 connections while py-spy samples the gateway process and, separately, its writer
process (the child that stores the records). Prints, for each, the top entries by self time (the
frame on top of the stack) and by total time (the frame anywhere on the stack) as % of samples,
the CPU each process used per request, and writes the collapsed stacks to
``benchmarks/.work/profile-*/`` for a flame graph.
Run it on a quiet machine: the numbers are shares of one process's samples, but a busy
machine changes which parts wait.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import yaml
from run import (
    WORK,
    Nginx,
    free_port,
    gateway_config,
    serve_command,
    stop,
    wait_healthy,
    wrk,
)


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        sys.exit("py-spy is not installed: pip install py-spy")
    return found


def children(pid: int) -> list[int]:
    """The gateway's child processes (its record writer)."""
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def frame_name(frame: str, lines: bool = False) -> str:
    """``handle (llmgate/gateway.py:144)`` -> ``llmgate/gateway.py:handle``."""
    name, _, where = frame.partition(" (")
    path, _, line = where.rstrip(")").rpartition(":")
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{name}" if not lines else f"{path}:{line}:{name}"


def summarise(collapsed: Path, top: int, lines: bool = False) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [frame_name(f, lines) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    lines = [f"{samples} samples", "", "| self % | function |", "| ---: | --- |"]
    lines += [f"| {100 * n / samples:.1f} | `{name}` |" for name, n in own.most_common(top)]
    lines += ["", "| total % | function |", "| ---: | --- |"]
    lines += [f"| {100 * n / samples:.1f} | `{name}` |" for name, n in total.most_common(top * 2)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--stream", action="store_true", help="profile the streamed path")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--lines", action="store_true", help="count by line, not by function")
    parser.add_argument("--api", choices=("chat", "responses"), default="chat", help="the API to load")
    args = parser.parse_args()
    spy = py_spy()
    WORK.mkdir(parents=True, exist_ok=True)
    nginx = Nginx()
    nginx.start()
    run_dir = WORK / f"profile-{int(time.time())}"
    run_dir.mkdir()
    config = run_dir / "sqlite.yaml"
    config.write_text(yaml.safe_dump(gateway_config(nginx.port, f"sqlite:///{run_dir / 'bench.db'}")))
    port = free_port()
    gateway = subprocess.Popen(serve_command(config, port))
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url + "/health", gateway)
        path = "/v1/responses" if args.api == "responses" else "/v1/chat/completions"
        wrk(url, path, args.concurrency, 3, args.stream, api=args.api)  # warm-up
        kind = ("stream" if args.stream else "plain") + ("" if args.api == "chat" else f"-{args.api}")
        writers = children(gateway.pid)  # the record writer (one per worker)
        processes = {"gateway": gateway.pid, **{f"writer{i or ''}": pid for i, pid in enumerate(writers)}}
        outs = {name: run_dir / f"{name}-{kind}.txt" for name in processes}
        load: dict[str, float] = {}

        def drive() -> None:
            load.update(wrk(url, path, args.concurrency, args.seconds + 2, args.stream, api=args.api))

        driver = threading.Thread(target=drive)
        driver.start()
        time.sleep(1)
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        spies = [
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    str(args.rate),
                    "--duration",
                    str(args.seconds),
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(outs[name]),
                    *([] if args.lines else ["--function"]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in processes.items()
        ]
        for spy_process in spies:
            spy_process.wait()
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
        driver.join()
        rps = load.get("rps", 0.0)
        print(
            f"## py-spy of llmgate serve, {kind}, c={args.concurrency}: {rps:.0f} req/s under the profiler\n"
        )
        for name, out in outs.items():
            per_request = cpu[name] / max(1.0, rps * args.seconds) * 1e6
            print(f"### {name} process: {per_request:.0f} µs of CPU per request\n")
            print(summarise(out, args.top, args.lines) if out.exists() else "(no samples)")
            print(f"\ncollapsed stacks: {out}\n")
    finally:
        stop(gateway)
        nginx.stop()


if __name__ == "__main__":
    main()
