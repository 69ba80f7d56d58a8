"""What handing a record to the writer process costs the gateway: ``frames.encode`` of a batch.

    python benchmarks/record_frames.py [--label after] [--no-results]
    PYTHONPATH=/path/to/old/src python benchmarks/record_frames.py --label before

The gateway pickles each loop turn's records into one frame for its writer process
(``recording/writer_process.py``); at c=64 a turn holds a few records, at low load one. A record
as the request path leaves it: ``benchmarks/run.py``'s streamed chat request and 13-event stream,
one successful attempt, its deployment. Times are the best of 5 repeats of 2,000 encodes (µs a
batch and a record), then the same for the writer's side (``frames.decode``). Each ``--label``
run adds its rows to that section of RESULTS.md, so two trees can be compared in one sitting.
"""

from __future__ import annotations

import argparse
import os
import timeit
from datetime import UTC, datetime

import orjson
from _common import read_section, write_section
from run import gateway_config, sse_body

import llmgate
from llmgate.config import build_deployments, parse_config
from llmgate.config.deployment import Deployment
from llmgate.recording import frames
from llmgate.telemetry.call_record import Attempt, CallRecord

SECTION = "## Issue 16: handing records to the writer process"
BODY = orjson.dumps(
    {
        "model": "bench-stream",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Write one sentence about the sea."},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
)
SIZES = (1, 4, 16)


def record(deployment: Deployment) -> CallRecord:
    call = CallRecord(
        id=os.urandom(16).hex(),
        created_at=datetime.now(UTC),
        endpoint="chat/completions",
        model="bench-stream",
        request=orjson.loads(BODY),
        stream=True,
    )
    call.deployment = deployment
    call.auth_identity, call.latency_ms, call.ttft_ms = "master", 1.25, 1.0
    call.stream_chunks = [sse_body().encode()]
    call.attempts = [Attempt("bench", "openai", "success", 1.0, status_code=200, model="bench-upstream")]
    return call


def best(fn: object, number: int = 2_000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--label", default="this tree")
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    deployment = build_deployments(parse_config(gateway_config(9, None)))[1]
    rows = []
    for size in SIZES:
        batch = [record(deployment) for _ in range(size)]
        encode = best(lambda batch=batch: frames.encode(("batch", 1, batch)))
        frame = frames.encode(("batch", 1, batch))
        decode = best(lambda frame=frame: frames.decode(frame))
        rows.append(
            f"| {args.label} | {size} | {encode:.1f} | {encode / size:.1f} | {decode / size:.1f} "
            f"| {len(frame) / size:,.0f} |"
        )
        print(rows[-1], flush=True)
    if args.no_results:
        return
    table = [line for line in read_section(SECTION).splitlines() if line.startswith("| ")][2:]
    kept = [line for line in table if not line.startswith(f"| {args.label} |")]  # other trees' rows
    text = "\n".join(
        [
            SECTION,
            "",
            "`python benchmarks/record_frames.py --label LABEL` (each tree's own `src` on `PYTHONPATH`): "
            "what the gateway's CPU pays to pickle a loop turn's records for its writer process, and "
            "what the writer pays to read them, per the best of 5 x 2,000.",
            "",
            "| tree | records in the frame | encode µs a frame | encode µs a record | decode µs a record "
            "| bytes a record |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *kept,
            *rows,
            "",
            f"llmgate {getattr(llmgate, '__version__', '?')}; a record is `run.py`'s streamed chat "
            "request with its 13-event stream, one attempt and its deployment.",
        ]
    )
    write_section(text, SECTION)


if __name__ == "__main__":
    main()
