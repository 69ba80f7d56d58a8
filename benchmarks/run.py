"""Side-by-side gateway benchmark: writes benchmarks/RESULTS.md.

    python benchmarks/run.py [--duration 15] [--warmup 3] [--skip-litellm] [--skip-postgres]

Upstream: nginx serving a static chat.completion (``/v1/...``) and a static SSE stream
(``/stream/v1/...``), so the gateway's own cost is what is measured. nginx's access log counts
the requests each contender sent upstream; llmgate's stored rows are checked against it.

Contenders, one at a time on the same machine: nginx directly (the floor); a bare passthrough
(uvicorn + one pooled aiohttp client, no features: the Python floor); ``llmgate serve`` with
recording to SQLite and to PostgreSQL; LiteLLM's proxy (``litellm[proxy]`` in its own venv,
same model list, no database). Load: wrk (one thread), concurrency 1, 8 and 64, plain and
streamed; time to first byte of streams measured separately by a sequential client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from _common import RESULTS
from responses_fixtures import response_object, responses_sse

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
WORK = BENCH / ".work"
VENV_BIN = Path(sys.executable).parent
PG_URL = os.environ.get("LLMGATE_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KEY = "sk-bench-master-0123456789"  # a master key: at least 16 characters
CONCURRENCY = (1, 8, 64)
#: the Responses API cells: the added latency at 1 and the throughput at 64
RESPONSES_CONCURRENCY = (1, 64)
#: the sections of RESULTS.md this script writes (the other scripts' sections are kept as they are)
OWN_SECTIONS = (
    "## Non-streaming",
    "## Streaming (whole stream)",
    "## Responses API (/v1/responses)",
    "## Time to first byte of a stream, start-up, memory, records",
    "## Headline",
)

CHAT = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "bench-upstream",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "The sea keeps its own time, patient and vast.",
                "refusal": None,
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 27, "completion_tokens": 11, "total_tokens": 38},
}


def sse_body() -> str:
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench-upstream",
    }
    words = ["The", "sea", "keeps", "its", "own", "time,", "patient", "and", "vast."]
    events: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    ]
    events += [
        {**base, "choices": [{"index": 0, "delta": {"content": (" " if i else "") + w}}]}
        for i, w in enumerate(words)
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**base, "choices": [], "usage": CHAT["usage"]})
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_tools() -> None:
    missing = [
        name for name in ("wrk", "nginx") if not shutil.which(name) and not Path(f"/usr/sbin/{name}").exists()
    ]
    if missing:
        packages = ["wrk" if m == "wrk" else "nginx-light" for m in missing]
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *packages],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )


# --- processes ----------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """RSS of a process and its children (uvicorn workers), in MB."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def wait_healthy(url: str, process: subprocess.Popen[bytes] | None, timeout: float = 60) -> float:
    import httpx

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before becoming healthy: {url}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"not healthy within {timeout}s: {url}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Nginx:
    def __init__(self) -> None:
        self.port = free_port()
        self.log = WORK / "nginx-access.log"
        (WORK / "nginx").mkdir(parents=True, exist_ok=True)
        self.conf = WORK / "nginx" / "nginx.conf"
        chat = json.dumps(CHAT).replace("'", "\\'")
        sse = sse_body().replace("\n", "\\n").replace("'", "\\'")
        response = json.dumps(response_object()).replace("'", "\\'")
        events = responses_sse().replace("\n", "\\n").replace("'", "\\'")
        self.conf.write_text(
            f"""
worker_processes 1;
error_log {WORK}/nginx/error.log warn;
pid {WORK}/nginx/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log {self.log} combined buffer=256k flush=1s;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path {WORK}/nginx/body;
  server {{
    listen 127.0.0.1:{self.port} backlog=4096;
    location = /health {{ return 200 'ok'; }}
    location = /v1/chat/completions {{ default_type application/json; return 200 '{chat}'; }}
    location = /stream/v1/chat/completions {{ default_type text/event-stream; return 200 '{sse}'; }}
    location = /v1/responses {{ default_type application/json; return 200 '{response}'; }}
    location = /stream/v1/responses {{ default_type text/event-stream; return 200 '{events}'; }}
  }}
}}
"""
        )

    def start(self) -> None:
        self.log.write_text("")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.process = subprocess.Popen(
            [nginx, "-c", str(self.conf), "-p", str(WORK / "nginx"), "-g", "daemon off;"]
        )
        wait_healthy(f"http://127.0.0.1:{self.port}/health", self.process)

    def requests_logged(self) -> int:
        time.sleep(1.5)  # the access log is flushed every second
        text = self.log.read_text()
        return sum(1 for line in text.splitlines() if "chat/completions" in line or "/responses" in line)

    def stop(self) -> None:
        stop(self.process)


# --- load ---------------------------------------------------------------------------------


def wrk(
    url: str, path: str, concurrency: int, seconds: int, stream: bool, api: str = "chat"
) -> dict[str, Any]:
    env = {**os.environ, "BENCH_STREAM": "1" if stream else "0", "BENCH_KEY": KEY, "BENCH_API": api}
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH / "post.lua"),
        url + path,
    ]
    output = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRKJSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


async def _ttfb(url: str, path: str, model: str, n: int) -> dict[str, float]:
    import aiohttp

    body = json.dumps(
        {
            "model": model,
            "stream": True,
            "messages": [{"role": "user", "content": "Write one sentence about the sea."}],
        }
    ).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    firsts: list[float] = []
    async with aiohttp.ClientSession() as session:
        for i in range(n + 50):
            started = time.perf_counter()
            async with session.post(url + path, data=body, headers=headers) as response:
                await response.content.readany()
                first = time.perf_counter() - started
                await response.read()
            if i >= 50:  # warm-up
                firsts.append(first * 1000)
    firsts.sort()
    return {
        "p50_ms": statistics.median(firsts),
        "p99_ms": firsts[int(len(firsts) * 0.99) - 1],
        "n": len(firsts),
    }


def ttfb(url: str, path: str, model: str, n: int = 1000) -> dict[str, float]:
    return asyncio.run(_ttfb(url, path, model, n))


# --- contenders ---------------------------------------------------------------------------


@dataclass
class Contender:
    name: str
    command: list[str] | None  # None: nginx itself
    url: str
    stream_path: str = "/v1/chat/completions"
    plain_path: str = "/v1/chat/completions"
    health: str = "/health"
    env: dict[str, str] = field(default_factory=dict)
    database_url: str | None = None
    #: the Responses API's paths (plain, streamed), or None: not measured for this contender
    responses_paths: tuple[str, str] | None = ("/v1/responses", "/v1/responses")


def gateway_config(upstream: int, database_url: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_list": [
            {
                "model_name": "bench-model",
                "litellm_params": {
                    "model": "openai/bench-upstream",
                    "api_base": f"http://127.0.0.1:{upstream}/v1",
                    "api_key": "sk-upstream",
                },
            },
            {
                "model_name": "bench-stream",
                "litellm_params": {
                    "model": "openai/bench-upstream",
                    "api_base": f"http://127.0.0.1:{upstream}/stream/v1",
                    "api_key": "sk-upstream",
                },
            },
        ],
        "general_settings": {"master_key": KEY},
    }
    if database_url is not None:
        config["llmgate"] = {"database_url": database_url, "spill_dir": str(WORK / "spill")}
    return config


def serve_command(config: Path, port: int) -> list[str]:
    return [
        str(VENV_BIN / "llmgate"),
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def reset_postgres() -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS requests CASCADE"))
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def count_rows(database_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as connection:
        count = int(connection.execute(text("SELECT count(*) FROM requests")).scalar_one())
    engine.dispose()
    return count


def litellm_command(port: int, config: Path) -> list[str] | None:
    venv = WORK / "litellm-venv"
    if not (venv / "bin" / "litellm").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "uv"], check=True)
        result = subprocess.run(
            [
                str(venv / "bin" / "uv"),
                "pip",
                "install",
                "-q",
                "--python",
                str(venv / "bin" / "python"),
                "litellm[proxy]",
            ],
            check=False,
        )
        if result.returncode != 0:
            return None
    return [str(venv / "bin" / "litellm"), "--config", str(config), "--port", str(port), "--num_workers", "1"]


def measure(contender: Contender, nginx: Nginx, args: argparse.Namespace) -> dict[str, Any]:
    print(f"== {contender.name}", flush=True)
    result: dict[str, Any] = {"name": contender.name}
    process = None
    shutil.rmtree(WORK / "spill", ignore_errors=True)
    log = (WORK / f"{contender.name.replace(' ', '_')}.log").open("w")
    if contender.command is not None:
        process = subprocess.Popen(
            contender.command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **contender.env}
        )
        result["startup_s"] = wait_healthy(contender.url + contender.health, process, timeout=120)
        time.sleep(1)
        result["rss_idle_mb"] = rss_mb(process.pid)
    before = nginx.requests_logged()
    started = time.perf_counter()
    for stream in (False, True):
        path = contender.stream_path if stream else contender.plain_path
        for concurrency in CONCURRENCY:
            wrk(contender.url, path, concurrency, args.warmup, stream)
            run = wrk(contender.url, path, concurrency, args.duration, stream)
            result[f"{'stream' if stream else 'plain'}_c{concurrency}"] = run
            print(
                f"   {'stream' if stream else 'plain '} c={concurrency:<3} {run['rps']:8.0f} req/s  "
                f"p50 {run['p50_us'] / 1000:.2f} ms  p99 {run['p99_us'] / 1000:.2f} ms  "
                f"errors {run['status_errors'] + run['timeouts']}",
                flush=True,
            )
    if contender.responses_paths is not None and not args.skip_responses:
        for stream, path in zip((False, True), contender.responses_paths, strict=True):
            for concurrency in RESPONSES_CONCURRENCY:
                wrk(contender.url, path, concurrency, args.warmup, stream, api="responses")
                run = wrk(contender.url, path, concurrency, args.duration, stream, api="responses")
                result[f"responses_{'stream' if stream else 'plain'}_c{concurrency}"] = run
                print(
                    f"   responses {'stream' if stream else 'plain '} c={concurrency:<3} {run['rps']:8.0f} req/s  "
                    f"p50 {run['p50_us'] / 1000:.2f} ms  p99 {run['p99_us'] / 1000:.2f} ms  "
                    f"errors {run['status_errors'] + run['timeouts']}",
                    flush=True,
                )
    model = "bench-stream"
    result["ttfb"] = ttfb(contender.url, contender.stream_path, model, args.ttfb_requests)
    print(f"   ttfb p50 {result['ttfb']['p50_ms']:.2f} ms  p99 {result['ttfb']['p99_ms']:.2f} ms", flush=True)
    elapsed = time.perf_counter() - started
    if process is not None:
        result["rss_after_mb"] = rss_mb(process.pid)
        stop(process)
    log.close()
    sent = nginx.requests_logged() - before
    result["upstream_requests"] = sent
    if contender.database_url is not None:
        rows = count_rows(contender.database_url)
        # Records spilled at shutdown are kept on disk and replayed at the next start: not lost.
        spilled = sum(len(f.read_bytes().splitlines()) for f in (WORK / "spill").glob("spill-*"))
        result["rows"] = rows
        result["spilled"] = spilled
        result["records_per_s"] = rows / elapsed
        result["lost"] = sent - rows - spilled
        print(f"   upstream saw {sent} requests, store has {rows} rows, {spilled} spilled", flush=True)
    return result


def memory_growth(nginx: Nginx, db_dir: Path) -> dict[str, float]:
    """RSS after 10,000 and after 100,000 requests through llmgate (SQLite, recording on)."""
    port = free_port()
    url = f"sqlite:///{db_dir / 'memory.db'}"
    config = WORK / "memory.yaml"
    config.write_text(yaml.safe_dump(gateway_config(nginx.port, url)))
    process = subprocess.Popen(serve_command(config, port))
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base + "/health", process)
    out: dict[str, float] = {"idle_mb": rss_mb(process.pid)}
    sent = 0
    for target in (10_000, 100_000):
        while sent < target:
            run = wrk(base, "/v1/chat/completions", 32, 5, False)
            sent += run["requests"]
        time.sleep(2)
        out[f"after_{target}_mb"] = rss_mb(process.pid)
        out[f"sent_at_{target}"] = sent
    stop(process)
    out["growth_pct"] = 100 * (out["after_100000_mb"] - out["after_10000_mb"]) / out["after_10000_mb"]
    return out


# --- report -------------------------------------------------------------------------------


def version(command: list[str]) -> str:
    try:
        return (
            subprocess.run(command, capture_output=True, text=True, check=False)
            .stdout.strip()
            .splitlines()[0]
        )
    except (OSError, IndexError):
        return "?"


def write_results(
    results: list[dict[str, Any]], memory: dict[str, float] | None, args: argparse.Namespace
) -> None:
    floor = results[0]
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} with `{' '.join(['python', 'benchmarks/run.py', *sys.argv[1:]])}`.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, {platform.platform()}; "
        f"Python {platform.python_version()}; {version(['wrk', '-v']).split(' Copyright')[0]}; {version([shutil.which('nginx') or '/usr/sbin/nginx', '-v'])}.",
        f"Load: wrk, 1 thread, {args.warmup} s warm-up then {args.duration} s per cell; upstream nginx serving a static "
        "chat.completion and a static 13-event SSE stream. Contenders run one at a time.",
        "",
    ]
    for kind in ("plain", "stream"):
        lines += [
            f"## {'Non-streaming' if kind == 'plain' else 'Streaming (whole stream)'}",
            "",
            "| contender | c | req/s | p50 ms | p90 ms | p99 ms | added p50 ms | added p99 ms | errors |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for result in results:
            for c in CONCURRENCY:
                run, base = result[f"{kind}_c{c}"], floor[f"{kind}_c{c}"]
                lines.append(
                    f"| {result['name']} | {c} | {run['rps']:.0f} | {run['p50_us'] / 1000:.2f} | {run['p90_us'] / 1000:.2f} | "
                    f"{run['p99_us'] / 1000:.2f} | {(run['p50_us'] - base['p50_us']) / 1000:.2f} | "
                    f"{(run['p99_us'] - base['p99_us']) / 1000:.2f} | {run['status_errors'] + run['timeouts']} |"
                )
        lines.append("")
    lines += responses_table(results)
    lines += [
        "## Time to first byte of a stream, start-up, memory, records",
        "",
        "| contender | TTFB p50 ms | TTFB p99 ms | added TTFB p50 ms | start-up to healthy s | RSS idle MB | RSS after MB | upstream requests | rows stored | lost | records/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        t = r["ttfb"]
        lines.append(
            f"| {r['name']} | {t['p50_ms']:.2f} | {t['p99_ms']:.2f} | {t['p50_ms'] - floor['ttfb']['p50_ms']:.2f} | "
            f"{r.get('startup_s', 0):.2f} | {r.get('rss_idle_mb', 0):.0f} | {r.get('rss_after_mb', 0):.0f} | "
            f"{r['upstream_requests']} | {r.get('rows', '-')} (+{r.get('spilled', 0)} spilled) | {r.get('lost', '-')} | "
            f"{r['records_per_s']:.0f} |"
            if "records_per_s" in r
            else f"| {r['name']} | {t['p50_ms']:.2f} | {t['p99_ms']:.2f} | {t['p50_ms'] - floor['ttfb']['p50_ms']:.2f} | "
            f"{r.get('startup_s', 0):.2f} | {r.get('rss_idle_mb', 0):.0f} | {r.get('rss_after_mb', 0):.0f} | "
            f"{r['upstream_requests']} | - | - | - |"
        )
    by_name = {r["name"]: r for r in results}
    bare, gate, lite = (
        by_name.get("bare passthrough"),
        by_name.get("llmgate (SQLite)"),
        by_name.get("LiteLLM proxy"),
    )
    lines += ["", "## Headline", ""]
    if bare and gate:
        share = gate["plain_c64"]["rps"] / bare["plain_c64"]["rps"] * 100
        lines.append(
            f"- llmgate with recording to SQLite: {gate['plain_c64']['rps']:.0f} req/s at concurrency 64, "
            f"{share:.0f}% of the bare passthrough's {bare['plain_c64']['rps']:.0f}; added p50 at concurrency 1 "
            f"{(gate['plain_c1']['p50_us'] - floor['plain_c1']['p50_us']) / 1000:.2f} ms, "
            f"p99 {(gate['plain_c1']['p99_us'] - floor['plain_c1']['p99_us']) / 1000:.2f} ms over nginx; "
            f"time to first byte +{gate['ttfb']['p50_ms'] - floor['ttfb']['p50_ms']:.2f} ms p50."
        )
    if gate and "responses_plain_c1" in gate and "responses_plain_c1" in floor:
        chat_added = gate["plain_c1"]["p50_us"] - floor["plain_c1"]["p50_us"]
        lines.append(
            "- The Responses API (passed through to the same nginx): added p50 at concurrency 1 "
            + ", ".join(
                f"{kind} {(gate[f'responses_{kind}_c1']['p50_us'] - floor[f'responses_{kind}_c1']['p50_us']) / 1000:.2f} ms"
                for kind in ("plain", "stream")
            )
            + f", against chat completions' {chat_added / 1000:.2f} ms (plain)."
        )
    if lite and gate:
        lines.append(
            f"- LiteLLM proxy in the same run: {lite['plain_c64']['rps']:.0f} req/s at concurrency 64 "
            f"(llmgate {gate['plain_c64']['rps'] / lite['plain_c64']['rps']:.0f} times that), "
            f"p50 at concurrency 1 {lite['plain_c1']['p50_us'] / 1000:.2f} ms."
        )
    if memory:
        lines.append(
            f"- Memory, llmgate (SQLite): {memory['idle_mb']:.0f} MB idle, {memory['after_10000_mb']:.0f} MB after "
            f"{memory['sent_at_10000']:.0f} requests, {memory['after_100000_mb']:.0f} MB after {memory['sent_at_100000']:.0f} "
            f"({memory['growth_pct']:+.1f}%)."
        )
    recorder_file = BENCH / "RECORDER.md"
    if recorder_file.exists():
        lines += ["", recorder_file.read_text().strip()]
    RESULTS.write_text(merge_results("\n".join(lines), RESULTS.read_text() if RESULTS.exists() else ""))
    (WORK / "results.json").write_text(json.dumps({"results": results, "memory": memory}, indent=1))
    print(f"wrote {BENCH / 'RESULTS.md'}")


def responses_table(results: list[dict[str, Any]]) -> list[str]:
    """The Responses API cells, against nginx's own ``/v1/responses`` (the first result)."""
    measured = [r for r in results if "responses_plain_c1" in r]
    if not measured or measured[0] is not results[0]:
        return []
    floor = results[0]
    lines = [
        "## Responses API (/v1/responses)",
        "",
        "| contender | kind | c | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in measured:
        for kind in ("plain", "stream"):
            for c in RESPONSES_CONCURRENCY:
                run, base = result[f"responses_{kind}_c{c}"], floor[f"responses_{kind}_c{c}"]
                lines.append(
                    f"| {result['name']} | {kind} | {c} | {run['rps']:.0f} | {run['p50_us'] / 1000:.2f} | "
                    f"{run['p99_us'] / 1000:.2f} | {(run['p50_us'] - base['p50_us']) / 1000:.2f} | "
                    f"{(run['p99_us'] - base['p99_us']) / 1000:.2f} | {run['status_errors'] + run['timeouts']} |"
                )
    return [*lines, ""]


def merge_results(own: str, old: str) -> str:
    """RESULTS.md with this script's part (its preamble and ``OWN_SECTIONS``) replaced by ``own``
    and every other script's section kept, in its place after it."""
    kept = [
        section
        for section in re.split(r"(?m)^(?=## )", old)
        if section.startswith("## ") and not section.startswith(OWN_SECTIONS)
    ]
    return own.rstrip("\n") + "\n\n" + "".join(kept).rstrip("\n") + "\n" if kept else own.rstrip("\n") + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--ttfb-requests", type=int, default=1000)
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--skip-responses",
        action="store_true",
        help="no /v1/responses cells (a gateway older than the Responses API)",
    )
    parser.add_argument("--only", help="comma-separated contender names to run (nginx always runs)")
    args = parser.parse_args()

    ensure_tools()
    WORK.mkdir(parents=True, exist_ok=True)
    nginx = Nginx()
    nginx.start()
    try:
        run_dir = WORK / f"run-{int(time.time())}"
        run_dir.mkdir()
        contenders = [
            Contender(
                "nginx direct",
                None,
                f"http://127.0.0.1:{nginx.port}",
                stream_path="/stream/v1/chat/completions",
                responses_paths=("/v1/responses", "/stream/v1/responses"),
            )
        ]
        port = free_port()
        contenders.append(
            Contender(
                "bare passthrough",
                [
                    sys.executable,
                    str(BENCH / "bare_passthrough.py"),
                    f"http://127.0.0.1:{nginx.port}",
                    str(port),
                ],
                f"http://127.0.0.1:{port}",
                stream_path="/stream/v1/chat/completions",
                responses_paths=("/v1/responses", "/stream/v1/responses"),
            )
        )
        for name, url in (
            ("llmgate (SQLite)", f"sqlite:///{run_dir / 'bench.db'}"),
            ("llmgate (PostgreSQL)", PG_URL),
        ):
            if "PostgreSQL" in name:
                if args.skip_postgres:
                    continue
                reset_postgres()
            port = free_port()
            config = run_dir / f"{name.split('(')[1][:-1].lower()}.yaml"
            config.write_text(yaml.safe_dump(gateway_config(nginx.port, url)))
            contenders.append(
                Contender(
                    name,
                    serve_command(config, port),
                    f"http://127.0.0.1:{port}",
                    database_url=url,
                )
            )
        if not args.skip_litellm:
            port = free_port()
            config = run_dir / "litellm.yaml"
            config.write_text(yaml.safe_dump(gateway_config(nginx.port, None)))
            command = litellm_command(port, config)
            if command is not None:
                contenders.append(
                    Contender(
                        "LiteLLM proxy",
                        command,
                        f"http://127.0.0.1:{port}",
                        health="/health/liveliness",
                        responses_paths=None,
                        env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"},
                    )
                )
        if args.only:
            wanted = {name.strip() for name in args.only.split(",")}
            contenders = [c for c in contenders if c.command is None or c.name in wanted]
        results = [measure(c, nginx, args) for c in contenders]
        memory = None if args.skip_memory else memory_growth(nginx, run_dir)
        write_results(results, memory, args)
    finally:
        nginx.stop()


if __name__ == "__main__":
    main()
