"""OpenTelemetry export: a span tree per request, the GenAI metrics, evaluation events.

Spans are made after the fact, from the finished ``CallRecord`` and its row, on the recorder's
background work (the writer process, or the in-process recorder): the request path pays for
nothing but keeping a ``traceparent`` header and the attempts' start times. Each request is a
SERVER span named ``{operation} {model}`` (``chat gpt-4o-mini``), with a CLIENT child per
upstream attempt, carrying the GenAI semantic conventions (see ``otel_attributes.py``). An
incoming W3C ``traceparent`` is continued (and its sampled flag honoured); without one, the
trace id *is* the request id (``x-llmgate-request-id``), so a trace can be found from a response,
except in a session: there every call shares the session's trace (``session_trace.py``), and a
call that names its parent call links to the parent's span.

Export is batched (``BatchSpanProcessor``, a periodic metric reader, a batch log processor), to
OTLP over HTTP or gRPC, or nowhere; to the console, each span and event is printed as it ends.
Drift and eval scores become ``gen_ai.evaluation.result`` events (log records) through
``record_evaluation``.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from llmgate.telemetry import otel_attributes as attributes
from llmgate.telemetry.answers import Parsed
from llmgate.telemetry.call_record import CallRecord
from llmgate.telemetry.otel_settings import OtelSettings
from llmgate.telemetry.session_trace import KnownSpans, session_trace_id
from llmgate.version import __version__

log = logging.getLogger("llmgate.telemetry.tracing")

SCOPE = "llmgate"
#: Explicit bucket boundaries the GenAI conventions advise for their two client histograms.
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)
_LOW_64 = (1 << 64) - 1
#: finished spans waiting for the exporter; past it, new ones are dropped (recording never waits)
SPAN_QUEUE = 20_000
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def _parent_of(traceparent: str | None) -> SpanContext | None:
    """The caller's span from a W3C ``traceparent`` header; ``None`` when absent or invalid."""
    if not traceparent:
        return None
    match = _TRACEPARENT.match(traceparent.strip().lower())
    if match is None or match.group(1) == "ff":
        return None
    trace_id, span_id = int(match.group(2), 16), int(match.group(3), 16)
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(match.group(4), 16) & 1))


class Tracing:
    """The OpenTelemetry providers of one process, and what llmgate records through them.

    ``span_exporter``, ``metric_reader`` and ``log_exporter`` replace the configured ones
    (tests pass in-memory ones). Thread-safe: the recorder may call from a worker thread.
    """

    def __init__(
        self,
        settings: OtelSettings,
        *,
        span_exporter: SpanExporter | None = None,
        metric_reader: MetricReader | None = None,
        log_exporter: LogRecordExporter | None = None,
        service_instance: str | None = None,
    ) -> None:
        self.settings = settings
        resource_attrs: dict[str, Any] = {
            "service.name": settings.service_name,
            "service.version": __version__,
        }
        if service_instance:
            resource_attrs["service.instance.id"] = service_instance
        resource = Resource.create(resource_attrs)
        self._resource = resource
        self._scope = InstrumentationScope(SCOPE, __version__)
        self._known = KnownSpans()  # recent session calls' spans, for their children's links
        # batched on its own thread; when the exporter cannot keep up, spans are dropped, never waited for.
        # The console is read by a person as it happens: there each span is printed as it ends.
        self._spans_out: SpanProcessor
        if settings.exporter == "console" and span_exporter is None:
            self._spans_out = SimpleSpanProcessor(settings.span_exporter())
        else:
            self._spans_out = BatchSpanProcessor(
                span_exporter or settings.span_exporter(),
                max_queue_size=SPAN_QUEUE,
                max_export_batch_size=512,
            )
        readers = [metric_reader or settings.metric_reader()]
        self._meters = MeterProvider(resource=resource, metric_readers=readers)
        meter = self._meters.get_meter(SCOPE, __version__)
        self._token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._logs = LoggerProvider(resource=resource)
        events: LogRecordProcessor
        if settings.exporter == "console" and log_exporter is None:
            events = SimpleLogRecordProcessor(settings.log_exporter())
        else:
            events = BatchLogRecordProcessor(log_exporter or settings.log_exporter())
        self._logs.add_log_record_processor(events)
        self._events = self._logs.get_logger(SCOPE, __version__)

    # --- requests -----------------------------------------------------------------------------

    def record_call(self, call: CallRecord, row: Mapping[str, Any], parsed: Parsed) -> None:
        """The request's span tree and its GenAI metric points. Never raises."""
        try:
            self._spans(call, dict(row), parsed)
            self._metrics(call, row, parsed)
        except Exception:
            log.debug("could not export telemetry for request %s", call.id, exc_info=True)

    def _spans(self, call: CallRecord, row: dict[str, Any], parsed: Parsed) -> None:
        """Finished spans, made directly: the call is over, so there is nothing to time or to
        propagate, and an SDK span's per-attribute bookkeeping cost ten times as much."""
        parent = _parent_of(call.traceparent)
        if parent is not None:
            if not parent.trace_flags.sampled:
                return  # the caller decided not to record this trace
            trace_id = parent.trace_id
        else:  # a session's calls share one trace (and a session is sampled whole)
            if call.session_id:
                trace_id = session_trace_id(call.session_id)
            else:
                trace_id = int(call.id, 16) if len(call.id) == 32 else random.getrandbits(128)
            if self.settings.sample_rate < 1.0 and (trace_id & _LOW_64) >= self.settings.sample_rate * 2**64:
                return
        span_id = int(call.id[:16], 16) if len(call.id) == 32 else random.getrandbits(64)
        context = SpanContext(trace_id, span_id or 1, is_remote=False, trace_flags=_SAMPLED)
        links: tuple[Link, ...] = ()
        if call.session_id or call.parent_id:
            self._known.remember(call.id, context)
            link = self._known.parent_link(call.parent_id, call.session_id) if call.parent_id else None
            links = (link,) if link is not None else ()
        start_ns = int(call.created_at.timestamp() * 1e9)
        end_ns = start_ns + int(call.latency_ms * 1e6)
        failed = call.status_code >= 400 or call.error_type
        request_attrs = attributes.request_attributes(
            call, row, parsed, capture_content=self.settings.capture_content
        )
        spans = [
            self._span(
                f"{attributes.operation(call)} {call.model or 'unknown'}",
                context,
                parent,
                SpanKind.SERVER,
                request_attrs,
                Status(StatusCode.ERROR, call.error_message or call.error_type) if failed else _UNSET,
                start_ns,
                end_ns,
                links,
            )
        ]
        last = len(call.attempts) - 1
        for i, attempt in enumerate(call.attempts):
            a_start = start_ns + int(attempt.started_ms * 1e6)
            # a stream's last attempt lasts as long as the stream; the others, as long as they took
            a_end = end_ns if (call.stream and i == last) else a_start + int(attempt.latency_ms * 1e6)
            error = attempt.status != "success" or (call.stream and i == last and call.error_type)
            spans.append(
                self._span(
                    f"{attributes.operation(call)} {attempt.model or call.model}",
                    SpanContext(trace_id, random.getrandbits(64) or 1, is_remote=False, trace_flags=_SAMPLED),
                    context,
                    SpanKind.CLIENT,
                    attributes.attempt_attributes(call, attempt),
                    Status(StatusCode.ERROR, attempt.error_type or call.error_type) if error else _UNSET,
                    a_start,
                    min(max(a_end, a_start), max(end_ns, a_start)),
                )
            )
        for span in spans:
            self._spans_out.on_end(span)

    def _span(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attrs: dict[str, Any],
        status: Status,
        start_ns: int,
        end_ns: int,
        links: tuple[Link, ...] = (),
    ) -> ReadableSpan:
        return ReadableSpan(
            name=name,
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=attrs,
            links=links,
            kind=kind,
            status=status,
            start_time=start_ns,
            end_time=end_ns,
            instrumentation_scope=self._scope,
        )

    def _metrics(self, call: CallRecord, row: Mapping[str, Any], parsed: Parsed) -> None:
        if call.deployment is None and not call.attempts:
            return  # refused before any model was called: not a GenAI operation
        attrs = attributes.metric_attributes(call, parsed)
        duration_attrs = dict(attrs)
        if call.error_type:
            duration_attrs["error.type"] = call.error_type
        self._duration.record(call.latency_ms / 1000, duration_attrs)
        for column, kind in (("prompt_tokens", "input"), ("completion_tokens", "output")):
            if row.get(column) is not None:
                self._token_usage.record(int(row[column]), {**attrs, "gen_ai.token.type": kind})

    # --- evaluations --------------------------------------------------------------------------

    def record_evaluation(
        self,
        name: str,
        *,
        score: float | None = None,
        label: str | None = None,
        explanation: str | None = None,
        response_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """One ``gen_ai.evaluation.result`` event (a log record with that event name)."""
        attrs: dict[str, Any] = {"gen_ai.evaluation.name": name}
        if score is not None:
            attrs["gen_ai.evaluation.score.value"] = float(score)
        if label is not None:
            attrs["gen_ai.evaluation.score.label"] = label
        if explanation:
            attrs["gen_ai.evaluation.explanation"] = explanation
        if response_id:
            attrs["gen_ai.response.id"] = response_id
        attrs.update({k: v for k, v in (extra or {}).items() if v is not None})
        try:
            self._events.emit(
                event_name="gen_ai.evaluation.result", attributes=attrs, timestamp=time.time_ns()
            )
        except Exception:
            log.debug("could not export evaluation event %s", name, exc_info=True)

    # --- lifecycle ----------------------------------------------------------------------------

    def flush(self, timeout_ms: int = 5000) -> None:
        self._spans_out.force_flush(timeout_ms)
        self._meters.force_flush(timeout_ms)
        self._logs.force_flush(timeout_ms)

    def shutdown(self) -> None:
        for provider in (self._spans_out, self._meters, self._logs):
            try:
                provider.shutdown()
            except Exception:
                log.debug("shutting down an OpenTelemetry provider failed", exc_info=True)


def tracing_from(settings: OtelSettings, **overrides: Any) -> Tracing | None:
    """A ``Tracing`` when export is configured (or exporters are given), else ``None``."""
    if not settings.enabled and not overrides:
        return None
    try:
        return Tracing(settings, **overrides)
    except Exception as exc:  # a broken exporter setting must not stop the gateway
        log.warning("OpenTelemetry export disabled: %s", exc)
        return None
