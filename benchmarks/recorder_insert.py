"""How fast the store takes records: ``insert_records`` in batches, and the recorder end to end.

    python benchmarks/recorder_insert.py                       # SQLite file in a temp dir
    python benchmarks/recorder_insert.py --postgres postgresql+psycopg://postgres@127.0.0.1/test

PostgreSQL runs in a throwaway schema. Rows look like small chat completions (about 1 KB).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import secrets
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import Engine, make_url

from llmgate.recording.recorder import Recorder
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.records import insert_records


def make_row() -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "created_at": datetime.now(UTC),
        "endpoint": "chat/completions",
        "model": "gpt-4o-mini",
        "deployment": "openai-1",
        "provider": "openai",
        "upstream_model": "gpt-4o-mini-2024-07-18",
        "stream": False,
        "status": "success",
        "status_code": 200,
        "request_json": '{"messages": [{"role": "user", "content": "' + "hello " * 60 + '"}]}',
        "response_text": "fine, thanks " * 30,
        "finish_reason": "stop",
        "prompt_tokens": 70,
        "completion_tokens": 90,
        "total_tokens": 160,
        "cost_usd": Decimal("0.0000012345"),
        "latency_ms": 312.5,
        "ttft_ms": 120.0,
        "prompt_hash": secrets.token_hex(32),
        "prompt_chars": 360,
        "response_chars": 390,
    }


def bench_inserts(engine: Engine, *, batch: int, batches: int) -> tuple[float, float]:
    """rows/s (median of batches) and rows/s overall."""
    data = [[make_row() for _ in range(batch)] for _ in range(batches)]
    insert_records(engine, [make_row() for _ in range(batch)])  # warm the pool and statement cache
    rates = []
    started = time.perf_counter()
    for rows in data:
        t = time.perf_counter()
        insert_records(engine, rows)
        rates.append(batch / (time.perf_counter() - t))
    return statistics.median(rates), batch * batches / (time.perf_counter() - started)


async def bench_recorder(engine: Engine, spill: Path, *, n: int, batch: int) -> float:
    recorder = Recorder(functools.partial(insert_records, engine), spill, batch_size=batch)
    await recorder.start()
    rows = [make_row() for _ in range(n)]
    started = time.perf_counter()
    for row in rows:
        recorder.submit(row)
    await recorder.flush()
    elapsed = time.perf_counter() - started
    await recorder.stop()
    return n / elapsed


def run(label: str, url: str, spill: Path, args: argparse.Namespace) -> None:
    engine = create_engine_for(url)
    try:
        upgrade(engine)
        median, overall = bench_inserts(engine, batch=args.batch, batches=args.batches)
        recorder_rate = asyncio.run(bench_recorder(engine, spill, n=args.recorder_rows, batch=args.batch))
    finally:
        engine.dispose()
    print(
        f"{label:<11} insert_records x{args.batch}: {median:>8,.0f} rows/s median, {overall:>8,.0f} overall"
        f" | recorder end to end: {recorder_rate:>8,.0f} rows/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="also run against this PostgreSQL URL")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--recorder-rows", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{tmp}/bench.db", Path(tmp) / "spill-sqlite", args)
        if args.postgres:
            schema = f"llmgate_bench_{secrets.token_hex(4)}"
            base = make_url(args.postgres).set(drivername="postgresql+psycopg")
            libpq = base.set(drivername="postgresql").render_as_string(hide_password=False)
            with psycopg.connect(libpq, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            try:
                url = base.update_query_dict({"options": f"-csearch_path={schema}"})
                run("PostgreSQL", url.render_as_string(hide_password=False), Path(tmp) / "spill-pg", args)
            finally:
                with psycopg.connect(libpq, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
