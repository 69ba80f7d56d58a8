"""Two or more builds of the gateway side by side: CPU per request at c=64, alternating.

    python benchmarks/gateway_ab.py [--rounds 5] [--seconds 6] [--stream] NAME=SRC [NAME=SRC ...]

Each ``SRC`` is a ``src`` directory of llmgate (``git archive REV src | tar -x -C DIR`` gives one
of any commit), put first on ``PYTHONPATH`` of its ``llmgate serve``. Each round runs every build,
then the bare passthrough, with the same nginx upstream and config as ``run.py``'s ``llmgate
(SQLite)`` contender. Printed for each: the gateway process's CPU per request (user + system, from
/proc) in every round, and the medians of it, of its record writer's CPU per request (the
writer process shares the machine with the load generator and the upstream: what it spends
past the second core comes out of the gateway's) and of req/s.

Why it exists: on the 2-core machines here, run-to-run drift of ±10% (on some, a CPU loop's speed
moves by 70% from one second to the next) hides a change of a few percent in ``run.py``'s
throughput. Runs alternated within minutes of each other, compared by the CPU each process spends
per request and by each build's share of the bare passthrough's req/s in the same round, show it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import yaml
from profile_serve import children, cpu_seconds
from run import BENCH, WORK, Nginx, free_port, gateway_config, serve_command, stop, wait_healthy, wrk

CHAT_PATH = "/v1/chat/completions"


def start(name: str, src: str | None, upstream: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    if src is None:
        command = [
            sys.executable,
            str(BENCH / "bare_passthrough.py"),
            f"http://127.0.0.1:{upstream}",
            str(port),
        ]
        return subprocess.Popen(command, stderr=subprocess.DEVNULL), port
    database = WORK / f"ab-{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    config = WORK / f"ab-{name}.yaml"
    config.write_text(yaml.safe_dump(gateway_config(upstream, f"sqlite:///{database}")))
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    process = subprocess.Popen(
        serve_command(config, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    return process, port


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("builds", nargs="+", help="NAME=SRC: a name and a src directory of llmgate")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    builds: list[tuple[str, str | None]] = [
        (name, src) for name, _, src in (build.partition("=") for build in args.builds)
    ]
    builds.append(("bare passthrough", None))
    WORK.mkdir(parents=True, exist_ok=True)
    nginx = Nginx()
    nginx.start()
    # per round: the gateway's CPU µs a request, its req/s, its record writer's CPU µs a request
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in builds}
    try:
        for _ in range(args.rounds):
            for name, src in builds:
                process, port = start(name, src, nginx.port)
                try:
                    url = f"http://127.0.0.1:{port}"
                    wait_healthy(url + "/health", process)
                    wrk(url, CHAT_PATH, 64, 2, args.stream)  # warm-up
                    writers = children(process.pid)  # the record writer (none for the bare)
                    before = cpu_seconds(process.pid)
                    writers_before = sum(cpu_seconds(pid) for pid in writers)
                    load = wrk(url, CHAT_PATH, 64, args.seconds, args.stream)
                    used = cpu_seconds(process.pid) - before
                    writing = sum(cpu_seconds(pid) for pid in writers) - writers_before
                    per_request = 1e6 / load["requests"]
                    results[name].append((used * per_request, load["rps"], writing * per_request))
                finally:
                    stop(process)
    finally:
        nginx.stop()
    kind = "streamed" if args.stream else "plain"
    print(f"{kind}, c=64, {args.rounds} rounds of {args.seconds} s\n")
    print(
        "| build | CPU µs a request, median | every round | record writer's CPU µs a request, median "
        "| req/s, median | share of the bare's req/s in its round, median (every round) |"
    )
    print("| --- | ---: | --- | ---: | ---: | --- |")
    bare = results["bare passthrough"]
    for name, runs in results.items():
        cpu = statistics.median(us for us, _, _ in runs)
        rps = statistics.median(r for _, r, _ in runs)
        writer = statistics.median(w for _, _, w in runs)
        every = ", ".join(f"{us:.0f}" for us, _, _ in runs)
        # the share within each round: builds run minutes apart drift with the machine's speed
        shares = [r / b for (_, r, _), (_, b, _) in zip(runs, bare, strict=True)]
        share = f"{statistics.median(shares):.0%} ({', '.join(f'{x:.0%}' for x in shares)})"
        print(f"| {name} | {cpu:.1f} | {every} | {writer:.1f} | {rps:,.0f} | {share} |")


if __name__ == "__main__":
    main()
