"""The record writer with the rollups' upkeep on and off, on PostgreSQL and SQLite (issue 21).

    python benchmarks/rollups_writer.py [--rounds 3] [--records 20000] [--no-postgres] [--no-results]
    python benchmarks/rollups_writer.py --packing    # the bodies packed or not, PostgreSQL (prints)

Two measures, each alternating upkeep on and off (``records.add_to_rollups`` replaced by a no-op)
on a fresh store every run:

- ``insert_records`` alone, in batches of 500 rows, one after the other in one thread
  (``rollups.py --writer-only``'s measure);
- the record writer end to end: what the writer process runs for each batch the gateway sends it
  (``Recorder`` with ``Observer.prepare`` turning each ``CallRecord`` into its row: the answer
  parsed, tokens counted, priced, redacted; then ``StoreWriter``: the rows stored, the rollups
  kept, ``StoreWriter.writes_at_once`` batches at a time as the writer process writes them),
  ``--records`` chat completions with 1 KB prompts and answers over 40 keys, 320 users and
  6 models, 10 a second, in batches of 500; the time spent in the upkeep is measured beside it
  (summed over the batches written at once, waits for each other's rollup groups included).

Writes "## Issue 21: the writer with rollups on and off" in RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from _common import RESULTS, write_section
from rollups import DEFAULT_PG, MODELS, TZ, postgres_store, sqlite_store, writer_rate
from storage_per_request import bodies_stored, text

from llmgate.config import build_deployments, parse_config
from llmgate.config.deployment import Deployment
from llmgate.pricing import PriceBook
from llmgate.recording.recorder import Recorder
from llmgate.store import records
from llmgate.store.db import create_engine_for
from llmgate.store.records import StoreWriter
from llmgate.telemetry.call_record import CallRecord
from llmgate.telemetry.metrics import CallMetrics
from llmgate.telemetry.observe import Observer

SECTION = "## Issue 21: the writer with rollups on and off"


def deployments() -> list[Deployment]:
    return build_deployments(
        parse_config(
            {
                "model_list": [
                    {
                        "model_name": model,
                        "litellm_params": {
                            "model": f"openai/{model}",
                            "api_base": "http://127.0.0.1:9/v1",
                            "input_cost_per_token": "0.000001",
                            "output_cost_per_token": "0.000002",
                        },
                    }
                    for model in MODELS
                ]
            }
        )
    )


def call(rng: random.Random, at: datetime, models: list[Deployment]) -> CallRecord:
    """A keyed chat completion as the gateway hands it to the writer."""
    k = rng.randrange(40)
    m = (k + rng.randrange(3)) % 6
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": MODELS[m],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text(rng, 1000)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 230, "completion_tokens": 240, "total_tokens": 470},
    }
    return CallRecord(
        id=os.urandom(16).hex(),
        created_at=at,
        endpoint="chat/completions",
        model=MODELS[m],
        request={"model": MODELS[m], "messages": [{"role": "user", "content": text(rng, 1000)}]},
        stream=False,
        auth_identity=f"key:key_{k}",
        user=f"user_{k}_{rng.randrange(8)}",
        tags={"env": "prod" if k % 2 else "dev"},
        key_id=f"key_{k}",
        team_id=f"team_{k % 8}",
        deployment=models[m],
        response_body=orjson.dumps(answer),
        latency_ms=rng.uniform(100, 3000),
    )


async def end_to_end(url: str, rollups: bool, count: int) -> tuple[float, float]:
    """Records/s through the writer's recorder, and the seconds spent in the upkeep."""
    engine = create_engine_for(url)
    upkeep = records.add_to_rollups
    spent = [0.0]

    def timed(conn: Any, rows: Any) -> None:
        began = time.perf_counter()
        upkeep(conn, rows)
        spent[0] += time.perf_counter() - began

    records.add_to_rollups = timed if rollups else (lambda conn, rows: None)  # type: ignore[assignment]
    try:
        store = StoreWriter(engine, TZ)
        store.ensure_schema()
        observer = Observer(PriceBook(), CallMetrics())
        rng, now, models = random.Random(1), datetime.now(UTC), deployments()
        calls = [call(rng, now + timedelta(seconds=i / 10), models) for i in range(count + 500)]
        with tempfile.TemporaryDirectory() as spill:
            recorder = Recorder(
                store,
                Path(spill),
                prepare=observer.prepare,
                batch_size=500,
                queue_size=count + 500,
                writes_at_once=store.writes_at_once,  # as the writer process has it
            )
            await recorder.start()
            for item in calls[:500]:  # warm the pool, the statements and the price book
                recorder.submit(item)
            await recorder.flush()
            spent[0] = 0.0
            began = time.perf_counter()
            for item in calls[500:]:
                recorder.submit(item)
            await recorder.flush()
            elapsed = time.perf_counter() - began
            await recorder.stop()
        return count / elapsed, spent[0]
    finally:
        records.add_to_rollups = upkeep
        engine.dispose()


def measure(label: str, make: Any, rounds: int, count: int) -> dict[str, Any]:
    out: dict[str, Any] = {"store": label, "insert": ([], []), "e2e": ([], []), "upkeep_s": []}
    for index in range(rounds * 2):
        on = index % 2 == 0
        with make() as url:
            out["insert"][0 if on else 1].append(writer_rate(url, rollups=on))
        with make() as url:
            rate, spent = asyncio.run(end_to_end(url, on, count))
        out["e2e"][0 if on else 1].append(rate)
        if on:
            out["upkeep_s"].append(spent)
        print(f"{label} rollups {'on ' if on else 'off'}: e2e {rate:,.0f} records/s", flush=True)
    return out


def render(results: list[dict[str, Any]], rounds: int, count: int) -> str:
    lines = [
        SECTION,
        "",
        f"`python benchmarks/rollups_writer.py --rounds {rounds} --records {count}` ({os.cpu_count()} cores): "
        "medians of alternated runs, each on a fresh store.",
        "",
        "| store | `insert_records` x500 on / off | change | writer end to end on / off | change | time in the upkeep (all batches) per second of the run |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        (ins_on, ins_off), (e2e_on, e2e_off) = r["insert"], r["e2e"]
        on_rate = statistics.median(e2e_on)
        share = statistics.median(r["upkeep_s"]) / (count / on_rate)
        lines.append(
            f"| {r['store']} | {statistics.median(ins_on):,.0f} / {statistics.median(ins_off):,.0f} rows/s | "
            f"{statistics.median(ins_on) / statistics.median(ins_off) - 1:+.1%} | "
            f"{on_rate:,.0f} / {statistics.median(e2e_off):,.0f} records/s | "
            f"{on_rate / statistics.median(e2e_off) - 1:+.1%} | {share:.1%} |"
        )
    lines += [
        "",
        "Runs (rows or records per second): "
        + "; ".join(
            f"{r['store']} insert on {[round(v) for v in r['insert'][0]]} off {[round(v) for v in r['insert'][1]]}, "
            f"end to end on {[round(v) for v in r['e2e'][0]]} off {[round(v) for v in r['e2e'][1]]}"
            for r in results
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"


def packing(base: str, rounds: int, count: int) -> str:
    """The writer end to end on PostgreSQL with the bodies packed (``store/bodies.py``) and, in
    turn, stored as their UTF-8 bytes (``storage_per_request.bodies_stored``), each with the
    rollups on and off: what packing costs the writer, and the rollups' share with and without it."""
    runs: dict[tuple[str, bool], list[float]] = {}
    for _ in range(rounds):
        for label in ("packed", "UTF-8"):
            for on in (True, False):
                with bodies_stored(label == "packed"), postgres_store(base) as url:
                    rate, _ = asyncio.run(end_to_end(url, on, count))
                runs.setdefault((label, on), []).append(rate)
                print(f"bodies {label}, rollups {'on ' if on else 'off'}: {rate:,.0f} records/s", flush=True)
    lines = [
        f"Bodies packed or not (`--packing`, PostgreSQL, {count:,} records, {rounds} alternated rounds; "
        "medians, records/s):",
        "",
        "| bodies | rollups on | rollups off | change | runs on / off |",
        "|---|---|---|---|---|",
    ]
    for label in ("packed", "UTF-8"):
        on, off = statistics.median(runs[(label, True)]), statistics.median(runs[(label, False)])
        listed = " / ".join(", ".join(f"{r:,.0f}" for r in runs[(label, o)]) for o in (True, False))
        lines.append(f"| {label} | {on:,.0f} | {off:,.0f} | {(on / off - 1) * 100:+.1f}% | {listed} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-results", action="store_true")
    parser.add_argument("--packing", action="store_true", help="only: packed bodies against UTF-8 (prints)")
    args = parser.parse_args()
    if args.packing:
        print(packing(os.environ.get("LLMGATE_BENCH_DATABASE_URL", DEFAULT_PG), args.rounds, args.records))
        return
    results = []
    if not args.no_postgres:
        pg = os.environ.get("LLMGATE_BENCH_DATABASE_URL", DEFAULT_PG)
        results.append(measure("PostgreSQL", lambda: postgres_store(pg), args.rounds, args.records))
    results.append(measure("SQLite", lambda: sqlite_store("writer-e2e.db"), args.rounds, args.records))
    text_out = render(results, args.rounds, args.records)
    print(text_out)
    if not args.no_results:
        write_section(text_out, SECTION, RESULTS)


if __name__ == "__main__":
    sys.exit(main())
