"""CPU per recorded call of the telemetry llmgate adds after a request: metrics, spans, OTLP.

    python benchmarks/telemetry_cost.py [--calls 5000] [--write]

Everything measured here runs where rows are made (the writer process), never on the request
path. For the same finished chat call (two messages, usage reported by the upstream) it times,
in CPU seconds of the whole process (export threads included):

- the row alone (``to_row``: parse, count, price);
- the row and the Prometheus traffic totals (``CallMetrics``) — what every gateway does;
- the row, the totals and OpenTelemetry: the span tree built and queued, the GenAI metric points,
  and the spans encoded as OTLP protobuf by the official exporter's encoder (sent nowhere).

With ``--write`` the figures replace the ``## Telemetry cost`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_section
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llmgate.config import build_deployments, parse_config
from llmgate.pricing import PriceBook
from llmgate.telemetry.call_record import Attempt, CallRecord, to_row
from llmgate.telemetry.metrics import CallMetrics
from llmgate.telemetry.observe import Observer
from llmgate.telemetry.otel_settings import OtelSettings
from llmgate.telemetry.tracing import Tracing

SECTION = "## Telemetry cost"
(GPT,) = build_deployments(
    parse_config(
        {
            "model_list": [
                {
                    "model_name": "gpt-4o-mini",
                    "litellm_params": {
                        "model": "openai/gpt-4o-mini",
                        "api_base": "https://api.openai.com/v1",
                    },
                }
            ]
        }
    )
)
BODY = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Paris is the capital of France."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 24, "completion_tokens": 8, "total_tokens": 32},
    }
)


class EncodeOnly(SpanExporter):
    """The OTLP exporter's work without a network: encode each batch as it would be sent."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def calls(n: int) -> list[CallRecord]:
    return [
        CallRecord(
            id=os.urandom(16).hex(),
            created_at=datetime.now(UTC),
            endpoint="chat/completions",
            model="gpt-4o-mini",
            request={
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Capital of France?"},
                ],
                "temperature": 0.2,
            },
            stream=False,
            deployment=GPT,
            response_body=BODY,
            latency_ms=180.0,
            team_id="search",
            attempts=[
                Attempt(
                    GPT.id, "openai", "success", 170.0, status_code=200, started_ms=3.0, model="gpt-4o-mini"
                )
            ],
        )
        for _ in range(n)
    ]


def cpu_per_call(work: Any, batch: list[CallRecord], finish: Any = None) -> float:
    began = time.process_time()
    for call in batch:
        work(call)
    if finish is not None:
        finish()
    return (time.process_time() - began) / len(batch) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    prices = PriceBook()
    prices.warm()
    plain = Observer(prices, CallMetrics())
    tracing = Tracing(
        OtelSettings(),
        span_exporter=EncodeOnly(),
        metric_reader=InMemoryMetricReader(),
        log_exporter=InMemoryLogRecordExporter(),
    )
    traced = Observer(prices, CallMetrics(), tracing=tracing)
    modes = {
        "row only (to_row)": (lambda c: to_row(c, prices), None),
        "row + Prometheus totals (every gateway)": (plain.prepare, None),
        "row + totals + OpenTelemetry spans, GenAI metrics, OTLP encoding": (traced.prepare, tracing.flush),
    }
    results: dict[str, list[float]] = {name: [] for name in modes}
    for work, finish in modes.values():  # warm-up: first-use imports and caches
        cpu_per_call(work, calls(200), finish)
    for _ in range(args.rounds):
        for name, (work, finish) in modes.items():
            results[name].append(cpu_per_call(work, calls(args.calls), finish))
    tracing.shutdown()
    lines = [
        SECTION,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python benchmarks/telemetry_cost.py --calls {args.calls} --rounds {args.rounds}`; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. CPU time of the process (its export "
        "threads included) per finished chat call, median of the rounds. All of it runs in the writer process, after the "
        "response; none on the request path.",
        "",
        "| work per call | CPU µs (median) | rounds |",
        "| --- | ---: | --- |",
    ]
    for name, values in results.items():
        lines.append(
            f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.0f}' for v in values)} |"
        )
    base = statistics.median(results["row + Prometheus totals (every gateway)"])
    otel = statistics.median(results["row + totals + OpenTelemetry spans, GenAI metrics, OTLP encoding"])
    lines += [
        "",
        f"OpenTelemetry export adds about {otel - base:.0f} µs of CPU per traced request (two spans). At that cost one core "
        f"traces about {1e6 / max(otel - base, 1):,.0f} requests/s; above that, set `llmgate.otel_sample_rate` (a caller's "
        "`traceparent` still decides for its own traces), or the span queue drops spans rather than slow recording.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(text, SECTION)


if __name__ == "__main__":
    main()
