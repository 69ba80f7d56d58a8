"""OpenTelemetry for tests: a ``Tracing`` whose spans, metrics and events stay in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmgate.telemetry.otel_settings import OtelSettings
from llmgate.telemetry.tracing import Tracing


@dataclass
class MemoryOtel:
    tracing: Tracing
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: InMemoryLogRecordExporter

    def events(self) -> list[Any]:
        """The evaluation events (log records) exported so far."""
        self.tracing.flush()
        return [r.log_record for r in self.logs.get_finished_logs()]


def memory_otel(**settings: Any) -> MemoryOtel:
    spans, reader, logs = InMemorySpanExporter(), InMemoryMetricReader(), InMemoryLogRecordExporter()
    tracing = Tracing(OtelSettings(**settings), span_exporter=spans, metric_reader=reader, log_exporter=logs)
    return MemoryOtel(tracing, spans, reader, logs)
