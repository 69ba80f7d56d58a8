"""The exact response cache under load: hits against nginx's static answer and the uncached gateway.

    python benchmarks/cache_hits.py [--duration 10] [--warmup 2] [--redis redis://127.0.0.1:6379/0]

One sitting, one contender at a time, upstream nginx as in ``run.py``: nginx serving the static
answer directly (the floor), ``llmgate serve`` recording to SQLite with the cache off (as in
``run.py``), then the same with ``litellm_settings.cache`` on (``type: local``, and ``type: redis``
when a Redis URL is given) and every request the same, so all but the first are exact hits. wrk
drives concurrency 1 (latency) and 64 (throughput), plain and streamed (a stream hit is replayed
as SSE). Checks that the upstream saw only the misses and that every request was recorded.
Writes the section "Issue 18: exact cache hits" of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from _common import write_section
from run import (
    WORK,
    Nginx,
    count_rows,
    free_port,
    gateway_config,
    serve_command,
    stop,
    wait_healthy,
    wrk,
)

TITLE = "## Issue 18: exact cache hits"


def cache_config(upstream: int, database_url: str, cache: dict[str, Any] | None) -> dict[str, Any]:
    config = gateway_config(upstream, database_url)
    if cache is not None:
        config["litellm_settings"] = {"cache": True, "cache_params": cache}
    return config


def measure(
    name: str, url: str, nginx: Nginx, args: argparse.Namespace, db: str | None, stream_path: str
) -> dict[str, Any]:
    print(f"== {name}", flush=True)
    out: dict[str, Any] = {"name": name}
    before = nginx.requests_logged()
    sent = 0
    for stream in (False, True):
        path = stream_path if stream else "/v1/chat/completions"
        for concurrency in (1, 64):
            warm = wrk(url, path, concurrency, args.warmup, stream)
            run = wrk(url, path, concurrency, args.duration, stream)
            sent += warm["requests"] + run["requests"]
            out[f"{'stream' if stream else 'plain'}_c{concurrency}"] = run
            print(
                f"   {'stream' if stream else 'plain '} c={concurrency:<3} {run['rps']:8.0f} req/s  "
                f"p50 {run['p50_us'] / 1000:.2f} ms  p99 {run['p99_us'] / 1000:.2f} ms  "
                f"errors {run['status_errors'] + run['timeouts']}",
                flush=True,
            )
    out["upstream"] = nginx.requests_logged() - before
    out["sent"] = sent
    if db is not None:
        time.sleep(1.5)
        out["rows"] = count_rows(db)
    return out


def row(result: dict[str, Any], floor: dict[str, Any], kind: str) -> str:
    c1, c64 = result[f"{kind}_c1"], result[f"{kind}_c64"]
    added = (c1["p50_us"] - floor[f"{kind}_c1"]["p50_us"]) / 1000
    return (
        f"| {result['name']} | {kind} | {c1['p50_us'] / 1000:.2f} | {c1['p99_us'] / 1000:.2f} | {added:+.2f} | "
        f"{c64['rps']:.0f} | {c64['p99_us'] / 1000:.2f} | {result['upstream']} | {result.get('rows', '-')} |"
    )


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    floor, uncached = results[0], results[1]
    lines = [
        TITLE,
        "",
        f"`python benchmarks/cache_hits.py --duration {args.duration} --warmup {args.warmup}"
        + (f" --redis {args.redis}" if args.redis else "")
        + "`, one sitting on this 2-core machine: nginx's static answer (the floor), llmgate recording to "
        "SQLite with the cache off, and with `litellm_settings.cache` on and every request the same "
        "(all but the first are exact hits, recorded like any call). wrk, one thread; c=1 for latency, "
        "c=64 for throughput.",
        "",
        "| contender | kind | c=1 p50 ms | c=1 p99 ms | p50 over nginx ms | c=64 req/s | c=64 p99 ms | upstream requests | rows stored |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        for kind in ("plain", "stream"):
            lines.append(row(result, floor, kind))
    lines.append("")
    for result in results[2:]:
        for kind in ("plain", "stream"):
            ratio = result[f"{kind}_c64"]["rps"] / uncached[f"{kind}_c64"]["rps"]
            added = (result[f"{kind}_c1"]["p50_us"] - floor[f"{kind}_c1"]["p50_us"]) / 1000
            lines.append(
                f"- {result['name']}, {kind}: a hit's p50 at c=1 is {added:.2f} ms over nginx's; "
                f"hit throughput at c=64 is {ratio:.2f}x the uncached gateway's."
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--redis", help="also measure cache_params type: redis at this URL")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    run_dir = WORK / f"cache-{int(time.time())}"
    run_dir.mkdir()
    nginx = Nginx()
    nginx.start()
    try:
        floor = measure(
            "nginx direct", f"http://127.0.0.1:{nginx.port}", nginx, args, None, "/stream/v1/chat/completions"
        )
        results = [floor]
        contenders: list[tuple[str, dict[str, Any] | None]] = [
            ("llmgate, cache off", None),
            ("llmgate, local cache, all hits", {"type": "local"}),
        ]
        if args.redis:
            contenders.append(
                (
                    "llmgate, Redis cache, all hits",
                    {"type": "redis", "redis_url": args.redis, "namespace": f"bench-{int(time.time())}"},
                )
            )
        for name, cache in contenders:
            db = f"sqlite:///{run_dir / (name.split(',')[1].strip().split()[0] + '.db')}"
            config = Path(run_dir / f"{len(results)}.yaml")
            config.write_text(yaml.safe_dump(cache_config(nginx.port, db, cache)))
            port = free_port()
            with (run_dir / f"{len(results)}.log").open("w") as log:
                process = subprocess.Popen(serve_command(config, port), stdout=log, stderr=subprocess.STDOUT)
                try:
                    wait_healthy(f"http://127.0.0.1:{port}/health", process, timeout=120)
                    url = f"http://127.0.0.1:{port}"
                    results.append(measure(name, url, nginx, args, db, "/v1/chat/completions"))
                finally:
                    stop(process)
            results[-1]["rows"] = count_rows(db)
        text = report(results, args)
        print(text)
        write_section(text, TITLE)
    finally:
        nginx.stop()


if __name__ == "__main__":
    main()
