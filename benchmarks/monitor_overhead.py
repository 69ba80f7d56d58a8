"""Gateway latency under load with the live monitor running versus off (goal: p99 at most 10% worse).

    python benchmarks/monitor_overhead.py [--rounds 3] [--duration 15] [--write]

Upstream: nginx serving a static chat completion (as ``benchmarks/run.py``). Load: wrk, one
thread, at concurrency 8 and 64, with the user message cycling through the shared data's QA
questions and general queries (``varied.lua``), so the monitor embeds varied text. Each round
runs ``llmgate serve`` (SQLite) once with ``llmgate.monitors`` off and once with it on
(``enabled: true``: ``serve`` starts ``llmgate monitor`` as a low-priority child process, sample
rate 1, a pass every second); the order alternates between rounds. Both modes wait 10 s after
start-up and warm-up (the gateway loads litellm in the background); with the monitor on, the run
also starts only once the monitor has stored its first samples (its model is loaded and it is
working), and the samples it stored during the measured run are counted.

With ``--write`` the figures replace the ``## Monitor overhead`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import shared_data_dir, write_section
from run import (  # the shared benchmark harness
    BENCH,
    KEY,
    WORK,
    Nginx,
    ensure_tools,
    free_port,
    gateway_config,
    serve_command,
    stop,
    wait_healthy,
)

RESULTS = BENCH / "RESULTS.md"
SETTLE_S = 10.0
SECTION = "## Monitor overhead"
DATA = shared_data_dir() or Path("/work/shared/data")


def prompts_file() -> Path:
    texts: list[str] = []
    for name, field in (("halueval_qa_dev.jsonl", "question"), ("halueval_general_dev.jsonl", "user_query")):
        with (DATA / name).open() as handle:
            texts += [json.loads(line)[field][:300] for line in handle if line.strip()]
    path = WORK / "monitor-prompts.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(t) for t in texts) + "\n")
    return path


def wrk(url: str, concurrency: int, seconds: int, prompts: Path) -> dict[str, Any]:
    env = {**os.environ, "BENCH_KEY": KEY, "BENCH_PROMPTS": str(prompts)}
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(BENCH / "varied.lua"), url + "/v1/chat/completions"]
    output = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRKJSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def count_samples(db: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM monitor_samples").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def one_run(nginx: Nginx, monitor: bool, args: argparse.Namespace, prompts: Path, tag: str) -> dict[str, Any]:
    work = WORK / f"monitor-{tag}"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    db = work / "store.db"
    config = gateway_config(nginx.port, f"sqlite:///{db}")
    config["llmgate"]["spill_dir"] = str(work / "spill")
    if monitor:
        config["llmgate"]["monitors"] = {
            "enabled": True,
            "interval_s": 1,
            "sample_rate": args.sample_rate,
            "settle_s": 0.5,
            "drift": {"window": "500", "reference_size": 500},
        }
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        serve_command(path, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy(url + "/health", process)
        wrk(url, 8, 3, prompts)  # warm-up (and traffic for the monitor's first pass)
        # Both modes settle alike: the gateway imports litellm in the background after start-up,
        # which would otherwise land in whichever run starts measuring first.
        time.sleep(SETTLE_S)
        if monitor:
            deadline = time.monotonic() + 120
            while count_samples(db) == 0 and time.monotonic() < deadline:
                time.sleep(0.5)
            if count_samples(db) == 0:
                raise SystemExit("the monitor stored no samples within 120 s")
        result: dict[str, Any] = {"monitor": monitor}
        for concurrency in (8, 64):
            before = count_samples(db)
            began = time.monotonic()
            run = wrk(url, concurrency, args.duration, prompts)
            sampled = count_samples(db) - before
            result[f"c{concurrency}"] = {
                "rps": run["rps"],
                "p50_ms": run["p50_us"] / 1000,
                "p99_ms": run["p99_us"] / 1000,
                "errors": run["status_errors"] + run["read_errors"] + run["timeouts"],
                "samples_per_s": sampled / (time.monotonic() - began) if monitor else None,
            }
        return result
    finally:
        stop(process)
        subprocess.run(["pkill", "-f", f"monitor --config {path}"], check=False)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for concurrency in ("c8", "c64"):
        for monitor in (False, True):
            cells = [r[concurrency] for r in runs if r["monitor"] is monitor]
            table[(concurrency, monitor)] = {
                "rps": statistics.median(c["rps"] for c in cells),
                "p50_ms": statistics.median(c["p50_ms"] for c in cells),
                "p99_ms": statistics.median(c["p99_ms"] for c in cells),
                "p99_all": [round(c["p99_ms"], 2) for c in cells],
                "errors": sum(c["errors"] for c in cells),
                "samples_per_s": statistics.median(c["samples_per_s"] for c in cells) if monitor else None,
            }
    return table


def section_title(args: argparse.Namespace) -> str:
    return SECTION if args.sample_rate == 1.0 else f"{SECTION} (sample rate {args.sample_rate:g})"


def markdown(table: dict[Any, Any], args: argparse.Namespace) -> str:
    load = os.getloadavg()[0]
    lines = [
        section_title(args),
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python benchmarks/monitor_overhead.py"
        f" --rounds {args.rounds} --duration {args.duration} --sample-rate {args.sample_rate:g}`. Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average (1 min) {load:.2f} at the end.",
        "llmgate serve (one worker, SQLite) in front of nginx; wrk with varied prompts (shared QA questions "
        "and general queries). Monitor on: `llmgate.monitors.enabled`, the sample rate above, a pass every second, "
        "all-MiniLM-L6-v2 on 1 torch thread, the monitor process under SCHED_IDLE. Medians over the rounds; goal: "
        "p99 with the monitor at most 10% above p99 without.",
        "",
        "| concurrency | monitor | requests/s | p50 ms | p99 ms (each round) | p99 change | samples embedded/s |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for concurrency in ("c8", "c64"):
        off, on = table[(concurrency, False)], table[(concurrency, True)]
        change = (on["p99_ms"] / off["p99_ms"] - 1) * 100
        for label, cell in (("off", off), ("on", on)):
            embedded = "" if cell["samples_per_s"] is None else f"{cell['samples_per_s']:.0f}"
            lines.append(
                f"| {concurrency[1:]} | {label} | {cell['rps']:,.0f} | {cell['p50_ms']:.2f} | "
                f"{cell['p99_ms']:.2f} ({', '.join(map(str, cell['p99_all']))}) | "
                f"{'' if label == 'off' else f'{change:+.1f}%'} | "
                f"{embedded} |"
            )
    errors = sum(cell["errors"] for cell in table.values())
    lines += ["", f"Request errors across every run: {errors}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--sample-rate", type=float, default=1.0, help="The monitor's sample rate.")
    parser.add_argument("--write", action="store_true", help="Write the section into benchmarks/RESULTS.md.")
    args = parser.parse_args()
    ensure_tools()
    prompts = prompts_file()
    nginx = Nginx()
    nginx.start()
    runs = []
    try:
        for round_ in range(args.rounds):
            order = (False, True) if round_ % 2 == 0 else (True, False)
            for monitor in order:
                result = one_run(nginx, monitor, args, prompts, f"{round_}-{'on' if monitor else 'off'}")
                print(json.dumps(result), flush=True)
                runs.append(result)
    finally:
        nginx.stop()
    text = markdown(summarise(runs), args)
    print(text)
    if args.write:
        write_section(text, section_title(args))


if __name__ == "__main__":
    main()
