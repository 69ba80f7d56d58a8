"""The ``llmgate.otel_*`` settings, and the OpenTelemetry exporters they choose.

Light to import (the SDK and exporters load only when an exporter is built): the gateway and the
writer process carry an ``OtelSettings`` even when export is off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace.export import SpanExporter

    from llmgate.config.schema import LlmgateSettings


@dataclass(frozen=True, slots=True)
class OtelSettings:
    """The ``llmgate.otel_*`` keys, picklable (the writer process gets them in its settings)."""

    exporter: str = "none"  # none | console | otlp | otlp_http | otlp_grpc
    endpoint: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    capture_content: bool = False
    service_name: str = "llmgate"
    metrics_interval_s: float = 30.0
    sample_rate: float = 1.0  # share of traces recorded when no caller decided (a traceparent)

    @classmethod
    def from_config(cls, settings: LlmgateSettings) -> OtelSettings:
        return cls(
            exporter=settings.otel_exporter,
            endpoint=settings.otel_endpoint,
            headers=tuple(sorted(settings.otel_headers.items())),
            capture_content=settings.otel_capture_content,
            service_name=settings.otel_service_name,
            metrics_interval_s=settings.otel_metrics_interval_s,
            sample_rate=settings.otel_sample_rate,
        )

    @property
    def enabled(self) -> bool:
        return self.exporter != "none"

    @property
    def grpc(self) -> bool:
        if self.exporter == "otlp":  # the standard variable decides, as for any OTel SDK
            protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            return protocol.strip().lower() == "grpc"
        return self.exporter == "otlp_grpc"

    def _http_url(self, signal: str) -> str | None:
        """OTLP/HTTP wants one URL per signal; ``otel_endpoint`` is the collector's base URL."""
        if self.endpoint is None:
            return None  # the exporter reads OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4318
        base = self.endpoint.rstrip("/")
        return base if base.endswith(f"/v1/{signal}") else f"{base}/v1/{signal}"

    def span_exporter(self) -> SpanExporter:
        headers = dict(self.headers) or None
        if self.exporter == "console":
            # OpenTelemetry exporter: only the one the config names, off the gateway's start-up
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            return ConsoleSpanExporter()
        if self.grpc:
            # OpenTelemetry exporter: only the one the config names, off the gateway's start-up
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

            return Grpc(endpoint=self.endpoint, headers=headers, insecure=_insecure(self.endpoint))
        # OpenTelemetry exporter: only the one the config names, off the gateway's start-up
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

        return Http(endpoint=self._http_url("traces"), headers=headers)

    def metric_reader(self) -> MetricReader:
        # OpenTelemetry exporter: only the one the config names, off the gateway's start-up
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

        headers = dict(self.headers) or None
        exporter: Any
        if self.exporter == "console":
            exporter = ConsoleMetricExporter()
        elif self.grpc:
            # OpenTelemetry exporter: only the one the config names, off the gateway's start-up
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as Grpc

            exporter = Grpc(endpoint=self.endpoint, headers=headers, insecure=_insecure(self.endpoint))
        else:
            # OpenTelemetry exporter: only the one the config names, off the gateway's start-up
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as Http

            exporter = Http(endpoint=self._http_url("metrics"), headers=headers)
        return PeriodicExportingMetricReader(exporter, export_interval_millis=self.metrics_interval_s * 1000)

    def log_exporter(self) -> LogRecordExporter:
        headers = dict(self.headers) or None
        if self.exporter == "console":
            # OpenTelemetry exporter: only the one the config names, off the gateway's start-up
            from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter

            return ConsoleLogRecordExporter()
        if self.grpc:
            # OpenTelemetry exporter: only the one the config names, off the gateway's start-up
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as Grpc

            return Grpc(endpoint=self.endpoint, headers=headers, insecure=_insecure(self.endpoint))
        # OpenTelemetry exporter: only the one the config names, off the gateway's start-up
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as Http

        return Http(endpoint=self._http_url("logs"), headers=headers)


def _insecure(endpoint: str | None) -> bool | None:
    if endpoint is None:
        return None
    return not endpoint.startswith("https://")
