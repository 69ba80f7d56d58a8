"""The record writer's cost in instructions a record: what ``writer_child`` does with each record.

    python benchmarks/writer_instructions.py [--records 2048]

For ``run.py``'s streamed chat record (``record_frames.record``: its request, 13-event stream, one
attempt and deployment), pickled in frames of 16 as the gateway sends them, this times what the
writer process does with each: ``frames.decode``, ``Observer.prepare`` (the row, the metrics) and
``StoreWriter`` (the insert and the rollups, 512 rows a transaction, into an SQLite file). It runs
twice under valgrind's callgrind (``N`` and ``3N`` records, at once on two cores), counting only
while it measures, and prints the difference over ``2N``. Give it another tree's ``src`` on
``PYTHONPATH`` to compare two trees.

Why it exists: the writer shares the machine's second core with the load generator and the
upstream; whatever it spends beyond that core is taken from the gateway's (on the 2-core machines
here, timings of the writer moved by 20% between runs; instruction counts repeat).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import callgrind_counting, callgrind_instructions
from record_frames import record
from run import gateway_config

from llmgate.config import build_deployments, parse_config
from llmgate.pricing import PriceBook
from llmgate.recording import frames
from llmgate.store.db import create_engine_for
from llmgate.store.records import StoreWriter
from llmgate.telemetry.metrics import CallMetrics
from llmgate.telemetry.observe import Observer

FRAME = 16  # records a frame, as a loop turn at c=64 sends them
TRANSACTION = 512  # rows an insert, as the writer's batches are under load


def _child(records: int) -> None:
    deployment = build_deployments(parse_config(gateway_config(9, None)))[1]
    sent = [
        frames.encode(("batch", seq, [record(deployment) for _ in range(FRAME)]))
        for seq in range(records // FRAME)
    ]
    engine = create_engine_for(f"sqlite:///{Path(tempfile.mkdtemp()) / 'writer.db'}")
    store = StoreWriter(engine)
    store.ensure_schema()
    prices = PriceBook()
    prices.warm()
    observer = Observer(prices, CallMetrics())
    per_transaction = TRANSACTION // FRAME
    warm, measured = sent[:per_transaction], sent[per_transaction:]
    for batch in (warm, measured):
        if batch is measured:
            callgrind_counting("on")
        for start in range(0, len(batch), per_transaction):
            calls = [
                call for frame in batch[start : start + per_transaction] for call in frames.decode(frame)[2]
            ]
            store([observer.prepare(call) for call in calls])
    callgrind_counting("off")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=2048, help="N: the runs write N and 3N")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child)
        return
    # the first transaction of each run warms up, uncounted
    counts = callgrind_instructions(
        __file__, [[f"--child={count + TRANSACTION}"] for count in (args.records, 3 * args.records)]
    )
    print(f"writer: {(counts[1] - counts[0]) / (2 * args.records):,.0f} instructions a record")


if __name__ == "__main__":
    main()
