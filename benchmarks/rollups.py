"""A year of traffic through the rollups: 10,000,000 requests over 12 months, on PostgreSQL and SQLite.

    python benchmarks/rollups.py                              # both stores, 10M rows, then RESULTS.md
    python benchmarks/rollups.py --rows 1000000 --no-sqlite --no-results
    python benchmarks/rollups.py --writer-only                # the writer's throughput, rollups on/off

The rows are generated in SQL (``generate_series`` on PostgreSQL, a recursive CTE on SQLite) over
12 months in ``America/New_York`` (two daylight-saving changes): 8 teams, 40 keys, 320 users (each
key's own 8), 6 models (each key uses 3), ``env`` tags per key, 3% upstream errors and 1% refused;
no bodies (the reports never read them). The rollups are then built as ``llmgate db rollup
--rebuild`` builds them (the writer keeps them as it stores rows; a bulk load bypasses it).

Timed, each as one cold run then the median of five: ``reports.spend.spend_report`` (what
``llmgate report spend`` and ``/admin/spend/report`` run) for ``team,model,month`` and ``key,day``
over the whole year, through the rollups and, for comparison, today's method (``store.spend``'s raw
queries); the dashboard overview's ``traffic_series`` over its default 24 hours, 30 days and the whole year; the
totals of both methods are checked equal. Then deleting the oldest month with ``store.prune``.

``--writer-only``: ``insert_records`` in batches of 500 rows like the recorder's (1 KB bodies, 36,000
requests an hour over 40 keys, 320 users, 6 models), with the rollups' upkeep on and off
(``records.add_to_rollups`` replaced by a no-op), alternated, on a fresh store each.

PostgreSQL (``LLMGATE_BENCH_DATABASE_URL``, default postgresql+psycopg://postgres@127.0.0.1:5432/test)
runs in its own schema, dropped at the end; SQLite in ``benchmarks/.work/rollups.db``.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from _common import RESULTS, write_section
from sqlalchemy.engine import Engine, make_url

from llmgate.config.retention_settings import RetentionSettings
from llmgate.reports.spend import parse_group_by, spend_report
from llmgate.store import records
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.partitions import ensure_months
from llmgate.store.prune import prune
from llmgate.store.rollups import rebuild_rollups, use_day_zone
from llmgate.store.spend import raw_spend_sums
from llmgate.store.traffic import pick_bucket_seconds, traffic_series

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
SECTION = "## Issue 21: rollups over a year of requests"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TZ = "America/New_York"
START = datetime(2025, 12, 1, 5, tzinfo=UTC)  # midnight in New York
END = START + timedelta(days=365)
MODELS = ["gpt-4o-mini", "gpt-4o", "claude-haiku", "claude-sonnet", "llama-3", "mistral-large"]
PROVIDERS = ["openai", "openai", "anthropic", "anthropic", "hosted_vllm", "mistral"]

_PG_INSERT = """
INSERT INTO requests (id, created_at, endpoint, model, deployment, provider, "user", stream, status,
  status_code, prompt_tokens, completion_tokens, total_tokens, tokens_estimated, cost_usd, cost_unknown,
  latency_ms, ttft_ms, attempts, tags_json, key_id, team_id, cache_hit)
SELECT md5(i::text || %(seed)s), %(start)s::timestamptz + ((i - 1)::float8 / %(n)s) * interval '365 days',
  'chat/completions', m.model, m.provider || '-1', CASE WHEN fate < 10 THEN NULL ELSE m.provider END,
  'user_' || k || '_' || (i %% 8), false, CASE WHEN fate < 40 THEN 'error' ELSE 'success' END,
  CASE WHEN fate < 10 THEN 429 WHEN fate < 40 THEN 500 ELSE 200 END, pt, ct, pt + ct, false,
  round((pt * 0.0000015 + ct * 0.000006)::numeric, 10), false, 200 + (i * 7919 %% 5000), 80.0, 1,
  CASE WHEN k %% 2 = 0 THEN '{"env": "prod"}' ELSE '{"env": "dev"}' END, 'key_' || k, 'team_' || (k %% 8), false
FROM (
  SELECT i, (i * 2654435761 %% 40) AS k, (i * 40503 %% 1000) AS fate,
    50 + (i * 31 %% 3000) AS pt, 20 + (i * 17 %% 900) AS ct
  FROM generate_series(1::bigint, %(n)s::bigint) AS i
) s
JOIN (SELECT * FROM unnest(%(models)s::text[], %(providers)s::text[]) WITH ORDINALITY AS t(model, provider, o)) m
  ON m.o = 1 + ((s.k + s.i %% 3) %% 6)
"""

_SQLITE_INSERT = """
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s LIMIT :n),
g AS (SELECT i, (i * 2654435761 % 40) AS k, (i * 40503 % 1000) AS fate,
  50 + (i * 31 % 3000) AS pt, 20 + (i * 17 % 900) AS ct, 1 + ((i * 2654435761 % 40) + i % 3) % 6 AS mo FROM s)
INSERT INTO requests (id, created_at, endpoint, model, deployment, provider, "user", stream, status,
  status_code, prompt_tokens, completion_tokens, total_tokens, tokens_estimated, cost_usd, cost_unknown,
  latency_ms, ttft_ms, attempts, tags_json, key_id, team_id, cache_hit)
SELECT printf('%032x', i), strftime('%Y-%m-%d %H:%M:%S', :start_julian + (i - 1) * 365.0 / :n) || '.000000',
  'chat/completions', json_extract(:models, '$[' || (mo - 1) || ']'),
  json_extract(:providers, '$[' || (mo - 1) || ']') || '-1',
  CASE WHEN fate < 10 THEN NULL ELSE json_extract(:providers, '$[' || (mo - 1) || ']') END,
  'user_' || k || '_' || (i % 8), 0, CASE WHEN fate < 40 THEN 'error' ELSE 'success' END,
  CASE WHEN fate < 10 THEN 429 WHEN fate < 40 THEN 500 ELSE 200 END, pt, ct, pt + ct, 0,
  pt * 15000 + ct * 60000, 0, 200 + (i * 7919 % 5000), 80.0, 1,
  CASE WHEN k % 2 = 0 THEN '{"env": "prod"}' ELSE '{"env": "dev"}' END, 'key_' || k, 'team_' || (k % 8), 0
FROM g
"""


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """(cold seconds, median of ``runs`` warm ones, the last answer)."""
    started = time.perf_counter()
    answer = fn()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = fn()
        warm.append(time.perf_counter() - started)
    return cold, statistics.median(warm), answer


@contextmanager
def postgres_store(base: str) -> Iterator[str]:
    schema = f"llmgate_bench_rollups_{secrets.token_hex(4)}"
    url = make_url(base).set(drivername="postgresql+psycopg")
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def sqlite_store(name: str) -> Iterator[str]:
    WORK.mkdir(exist_ok=True)
    path = WORK / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def load(engine: Engine, rows: int) -> float:
    started = time.perf_counter()
    ensure_months(engine, (START + timedelta(days=day) for day in range(367)))  # PostgreSQL's partitions
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            params = {"seed": "bench", "start": START, "n": rows, "models": MODELS, "providers": PROVIDERS}
            conn.exec_driver_sql(_PG_INSERT, params)
        else:
            julian = conn.exec_driver_sql(
                "SELECT julianday(?)", (START.strftime("%Y-%m-%d %H:%M:%S"),)
            ).scalar()
            models, providers = str(MODELS).replace("'", '"'), str(PROVIDERS).replace("'", '"')
            params2 = {"n": rows, "start_julian": julian, "models": models, "providers": providers}
            conn.execute(sa.text(_SQLITE_INSERT), params2)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE requests")
    return time.perf_counter() - started


def bench_store(label: str, url: str, rows: int, runs: int) -> dict[str, Any]:
    engine = create_engine_for(url)
    out: dict[str, Any] = {"store": label}
    try:
        upgrade(engine)
        use_day_zone(engine, TZ)
        out["load_s"] = load(engine, rows)
        print(f"{label}: loaded {rows:,} rows in {out['load_s']:.0f} s", flush=True)
        rebuilt = rebuild_rollups(engine, START)
        out["rebuild"] = rebuilt
        print(
            f"  rollups: {rebuilt.hour_groups:,} hourly, {rebuilt.day_groups:,} daily groups in {rebuilt.seconds:.0f} s",
            flush=True,
        )
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE rollup_hours")
                conn.exec_driver_sql("VACUUM ANALYZE rollup_days")
        with engine.connect() as conn:
            out["hour_rows"] = conn.exec_driver_sql("SELECT count(*) FROM rollup_hours").scalar()
            out["day_rows"] = conn.exec_driver_sql("SELECT count(*) FROM rollup_days").scalar()
        reports = {}
        for group_by in ("team,model,month", "key,day"):
            groups = parse_group_by(group_by)
            cold, warm, report = timed(
                lambda g=groups: spend_report(engine, since=START, until=END, group_by=g, tz=TZ), runs
            )
            dims = ["date" if d in ("month", "day") else d for d in groups]
            raw_cold, raw_warm, raw = timed(
                lambda d=dims: raw_spend_sums(engine, d, START, END, TZ), min(runs, 2)
            )
            assert report.total.requests == sum(s.requests for s in raw) == rows, (
                report.total.requests,
                rows,
            )
            assert report.total.cost_usd == sum((s.cost_usd for s in raw), Decimal(0))
            reports[group_by] = (cold, warm, raw_cold, raw_warm, len(report.lines))
            print(
                f"  report spend --group-by {group_by}: {warm * 1000:,.0f} ms (cold {cold * 1000:,.0f}) through rollups, "
                f"{raw_warm * 1000:,.0f} ms raw; {len(report.lines):,} lines",
                flush=True,
            )
        out["reports"] = reports
        overview = {}
        for name, since in (
            ("24 hours", END - timedelta(hours=24)),  # the dashboard's default range
            ("30 days", END - timedelta(days=30)),
            ("365 days", START),
        ):
            bucket = pick_bucket_seconds(END - since)
            cold, warm, series = timed(lambda s=since, b=bucket: traffic_series(engine, s, END, b, TZ), runs)
            overview[name] = (cold, warm, bucket, series.totals.requests)
            print(
                f"  overview {name} ({bucket // 60} min buckets): {warm * 1000:,.0f} ms (cold {cold * 1000:,.0f})",
                flush=True,
            )
        out["overview"] = overview
        keep = (
            datetime.now(UTC) - (START + timedelta(days=31))
        ).days  # everything older than the first month goes
        settings = RetentionSettings.model_validate({"requests": f"{keep}d"})
        started = time.perf_counter()
        pruned = prune(engine, settings)
        out["prune"] = (time.perf_counter() - started, sum(r.count for r in pruned))
        print(f"  pruned the oldest month: {out['prune'][1]:,} rows in {out['prune'][0]:.1f} s", flush=True)
        return out
    finally:
        engine.dispose()


def writer_rows(rng: random.Random, at: datetime) -> dict[str, Any]:
    k = rng.randrange(40)
    return {
        "id": uuid.uuid4().hex,
        "created_at": at,
        "endpoint": "chat/completions",
        "model": MODELS[(k + rng.randrange(3)) % 6],
        "deployment": "d-1",
        "provider": "openai",
        "key_id": f"key_{k}",
        "team_id": f"team_{k % 8}",
        "user": f"user_{k}_{rng.randrange(8)}",
        "status": "success",
        "status_code": 200,
        "request_json": '{"messages": [{"role": "user", "content": "' + "hello " * 60 + '"}]}',
        "response_text": "fine, thanks " * 30,
        "prompt_tokens": 70,
        "completion_tokens": 90,
        "total_tokens": 160,
        "cost_usd": Decimal("0.0000012345"),
        "latency_ms": rng.uniform(100, 3000),
        "ttft_ms": 120.0,
        "tags_json": '{"env": "prod"}' if k % 2 else '{"env": "dev"}',
    }


def writer_rate(url: str, rollups: bool, batches: int = 40) -> float:
    """insert_records rows/s (all rows over all batches) with the rollups' upkeep on or off."""
    engine = create_engine_for(url)
    upkeep = records.add_to_rollups
    if not rollups:
        records.add_to_rollups = lambda conn, rows: None  # type: ignore[assignment]
    try:
        upgrade(engine)
        use_day_zone(engine, TZ)
        rng = random.Random(1)
        now = datetime.now(UTC)
        data = [
            [writer_rows(rng, now + timedelta(seconds=(b * 500 + i) / 10)) for i in range(500)]
            for b in range(batches + 1)
        ]
        records.insert_records(engine, data[0])  # warm the pool and the statements
        started = time.perf_counter()
        for batch in data[1:]:
            records.insert_records(engine, batch)
        return 500 * batches / (time.perf_counter() - started)
    finally:
        records.add_to_rollups = upkeep
        engine.dispose()


def bench_writer(pg: str | None, rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float]]] = {}
    stores: list[tuple[str, Callable[[], Any]]] = [("SQLite", lambda: sqlite_store("writer.db"))]
    if pg:
        stores.insert(0, ("PostgreSQL", lambda: postgres_store(pg)))
    for label, make in stores:
        on: list[float] = []
        off: list[float] = []
        for index in range(rounds * 2):
            with make() as url:
                rate = writer_rate(url, rollups=index % 2 == 0)
            (on if index % 2 == 0 else off).append(rate)
        out[label] = (on, off)
        change = statistics.median(on) / statistics.median(off) - 1
        print(
            f"writer, {label}: rollups on {statistics.median(on):,.0f} rows/s, off {statistics.median(off):,.0f} "
            f"({change:+.1%}); runs on {[round(r) for r in on]}, off {[round(r) for r in off]}",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--writer-only", action="store_true")
    parser.add_argument("--no-writer", action="store_true")
    parser.add_argument("--writer-rounds", type=int, default=3)
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    pg = None if args.no_postgres else os.environ.get("LLMGATE_BENCH_DATABASE_URL", DEFAULT_PG)
    writer = {} if args.no_writer else bench_writer(pg, args.writer_rounds)
    results = []
    if not args.writer_only:
        if pg:
            with postgres_store(pg) as url:
                results.append(bench_store("PostgreSQL", url, args.rows, args.runs))
        if not args.no_sqlite:
            with sqlite_store("rollups.db") as url:
                results.append(bench_store("SQLite", url, args.rows, args.runs))
    if not args.no_results:
        write_section(render(results, writer, args.rows), SECTION, RESULTS)


def render(
    results: list[dict[str, Any]], writer: dict[str, tuple[list[float], list[float]]], rows: int
) -> str:
    lines = [
        SECTION,
        "",
        f"`python benchmarks/rollups.py` ({sys.platform}, {os.cpu_count()} cores): {rows:,} requests over 12 months in {TZ}.",
        "",
    ]
    if results:
        lines += [
            "| store | rollup rows (hourly / daily) | `team,model,month` rollups / raw | `key,day` rollups / raw | overview 24 h / 30 d / 365 d | prune oldest month |",
            "|---|---|---|---|---|---|",
        ]
        for r in results:
            tm, kd = r["reports"]["team,model,month"], r["reports"]["key,day"]
            day, month, year = (r["overview"][name] for name in ("24 hours", "30 days", "365 days"))
            lines.append(
                f"| {r['store']} | {r['hour_rows']:,} / {r['day_rows']:,} | {tm[1] * 1000:,.0f} ms / {tm[3] * 1000:,.0f} ms | "
                f"{kd[1] * 1000:,.0f} ms / {kd[3] * 1000:,.0f} ms | {day[1] * 1000:,.0f} / {month[1] * 1000:,.0f} / {year[1] * 1000:,.0f} ms | "
                f"{r['prune'][1]:,} rows in {r['prune'][0]:.1f} s |"
            )
        lines.append("")
        for r in results:
            rb = r["rebuild"]
            lines.append(
                f"- {r['store']}: loaded in {r['load_s']:.0f} s; `db rollup --rebuild` summed {rb.rows:,} rows in {rb.seconds:.0f} s."
            )
    for label, (on, off) in writer.items():
        change = statistics.median(on) / statistics.median(off) - 1
        lines.append(
            f"- Writer ({label}, `insert_records` x500, 1 KB bodies): rollups on {statistics.median(on):,.0f} rows/s, "
            f"off {statistics.median(off):,.0f} rows/s ({change:+.1%}; medians of {len(on)} alternated runs)."
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
