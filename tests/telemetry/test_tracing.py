"""OpenTelemetry export from a finished call: the span tree, GenAI attributes, trace context,
content capture, the GenAI metrics and evaluation events — through in-memory exporters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from llmgate.config import build_deployments, parse_config
from llmgate.pricing import PriceBook
from llmgate.telemetry.call_record import Attempt, CallRecord
from llmgate.telemetry.metrics import CallMetrics
from llmgate.telemetry.observe import Observer
from llmgate.telemetry.otel_settings import OtelSettings
from support.otel import memory_otel

CONFIG = {
    "model_list": [
        {
            "model_name": "gpt",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_base": "https://llm.example.com:8443/v1",
                "input_cost_per_token": "0.000001",
                "output_cost_per_token": "0.000002",
            },
        },
        {"model_name": "backup", "litellm_params": {"model": "anthropic/claude-haiku-4-5"}},
    ]
}
GPT, BACKUP = build_deployments(parse_config(CONFIG))
REQUEST = {
    "model": "gpt",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ],
    "temperature": 0.2,
    "max_tokens": 50,
}
RESPONSE = {
    "id": "chatcmpl-42",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 20,
        "completion_tokens": 3,
        "total_tokens": 23,
        "prompt_tokens_details": {"cached_tokens": 8},
        "completion_tokens_details": {"reasoning_tokens": 1},
    },
}
REQUEST_ID = "0123456789abcdef" * 2


@pytest.fixture
def otel() -> Iterator[
    tuple[Observer, InMemorySpanExporter, InMemoryMetricReader, InMemoryLogRecordExporter]
]:
    otel = memory_otel()
    observer = Observer(PriceBook(), CallMetrics(), tracing=otel.tracing)
    yield observer, otel.spans, otel.metrics, otel.logs
    otel.tracing.shutdown()


def call(**kwargs: Any) -> CallRecord:
    base: dict[str, Any] = {
        "id": REQUEST_ID,
        "created_at": datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        "endpoint": "chat/completions",
        "model": "gpt",
        "request": REQUEST,
        "stream": False,
        "deployment": GPT,
        "response_body": orjson.dumps(RESPONSE),
        "latency_ms": 250.0,
        "attempts": [
            Attempt(GPT.id, "openai", "success", 240.0, status_code=200, started_ms=5.0, model="gpt-4o-mini")
        ],
    }
    return CallRecord(**{**base, **kwargs})


def finished(observer: Observer, spans: InMemorySpanExporter, record: CallRecord) -> list[ReadableSpan]:
    observer.prepare(record)
    assert observer.tracing is not None
    observer.tracing.flush()
    return list(spans.get_finished_spans())


def test_request_span_and_attempt_child_carry_genai_attributes(otel: Any) -> None:
    observer, spans, _, _ = otel
    done = finished(observer, spans, call())
    assert len(done) == 2
    request = next(s for s in done if s.kind is SpanKind.SERVER)
    attempt = next(s for s in done if s.kind is SpanKind.CLIENT)
    assert request.name == "chat gpt"
    assert attempt.name == "chat gpt-4o-mini"
    assert attempt.parent is not None and attempt.parent.span_id == request.context.span_id
    assert attempt.context.trace_id == request.context.trace_id
    a = request.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.response.id"] == "chatcmpl-42"
    assert a["gen_ai.usage.input_tokens"] == 20
    assert a["gen_ai.usage.output_tokens"] == 3
    assert a["gen_ai.usage.cache_read.input_tokens"] == 8
    assert a["gen_ai.usage.reasoning.output_tokens"] == 1
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["llmgate.attempts"] == 1
    assert a["llmgate.fallback"] is False
    assert a["llmgate.cost_usd"] == pytest.approx(20 * 0.000001 + 3 * 0.000002)
    assert a["server.address"] == "llm.example.com" and a["server.port"] == 8443
    # timing: the request span spans the latency; the attempt starts 5 ms in and lasts 240 ms
    assert request.end_time - request.start_time == 250_000_000
    assert attempt.start_time - request.start_time == 5_000_000
    assert attempt.end_time - attempt.start_time == 240_000_000
    # no content unless asked for
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a


def test_without_traceparent_the_trace_id_is_the_request_id(otel: Any) -> None:
    observer, spans, _, _ = otel
    request = next(s for s in finished(observer, spans, call()) if s.kind is SpanKind.SERVER)
    assert format(request.context.trace_id, "032x") == REQUEST_ID
    assert request.parent is None


def test_incoming_traceparent_is_continued(otel: Any) -> None:
    observer, spans, _, _ = otel
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    done = finished(observer, spans, call(traceparent=f"00-{trace_id}-{parent_id}-01"))
    request = next(s for s in done if s.kind is SpanKind.SERVER)
    assert format(request.context.trace_id, "032x") == trace_id
    assert request.parent is not None and format(request.parent.span_id, "016x") == parent_id
    assert all(format(s.context.trace_id, "032x") == trace_id for s in done)


def test_unsampled_traceparent_exports_nothing(otel: Any) -> None:
    observer, spans, _, _ = otel
    done = finished(
        observer, spans, call(traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
    )
    assert done == []


def test_retry_then_fallback_makes_one_child_per_attempt(otel: Any) -> None:
    observer, spans, _, _ = otel
    attempts = [
        Attempt(
            GPT.id, "openai", "error", 30.0, "upstream_timeout", 504, started_ms=1.0, model="gpt-4o-mini"
        ),
        Attempt(GPT.id, "openai", "error", 20.0, "upstream_error", 500, started_ms=60.0, model="gpt-4o-mini"),
        Attempt(
            BACKUP.id,
            "anthropic",
            "success",
            100.0,
            status_code=200,
            started_ms=90.0,
            model="claude-haiku-4-5",
        ),
    ]
    done = finished(observer, spans, call(deployment=BACKUP, attempts=attempts, latency_ms=200.0))
    request = next(s for s in done if s.kind is SpanKind.SERVER)
    children = sorted((s for s in done if s.kind is SpanKind.CLIENT), key=lambda s: s.start_time)
    assert [c.name for c in children] == ["chat gpt-4o-mini", "chat gpt-4o-mini", "chat claude-haiku-4-5"]
    assert all(c.parent is not None and c.parent.span_id == request.context.span_id for c in children)
    assert [c.status.status_code for c in children] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    assert children[0].attributes["error.type"] == "upstream_timeout"
    assert children[2].attributes["gen_ai.provider.name"] == "anthropic"
    assert request.attributes["llmgate.attempts"] == 3
    assert request.attributes["llmgate.fallback"] is True


def test_failed_request_has_error_status_and_type(otel: Any) -> None:
    observer, spans, _, _ = otel
    record = call(
        response_body=None,
        status_code=502,
        error_type="upstream_error",
        error_message="bad gateway",
        attempts=[Attempt(GPT.id, "openai", "error", 10.0, "upstream_error", 502, model="gpt-4o-mini")],
    )
    request = next(s for s in finished(observer, spans, record) if s.kind is SpanKind.SERVER)
    assert request.status.status_code is StatusCode.ERROR
    assert request.attributes["error.type"] == "upstream_error"
    assert request.attributes["http.response.status_code"] == 502


def test_content_only_with_capture_content() -> None:
    otel = memory_otel(capture_content=True)
    spans, tracing = otel.spans, otel.tracing
    try:
        request = next(
            s
            for s in finished(Observer(PriceBook(), CallMetrics(), tracing=tracing), spans, call())
            if s.kind is SpanKind.SERVER
        )
    finally:
        tracing.shutdown()
    inputs = orjson.loads(request.attributes["gen_ai.input.messages"])
    assert inputs == [{"role": "user", "content": "Capital of France?"}]
    assert orjson.loads(request.attributes["gen_ai.system_instructions"]) == ["Be brief."]
    outputs = orjson.loads(request.attributes["gen_ai.output.messages"])
    assert outputs[0]["content"] == "Paris." and outputs[0]["finish_reason"] == "stop"


def test_genai_metrics_histograms(otel: Any) -> None:
    observer, _, reader, _ = otel
    observer.prepare(call())
    data = reader.get_metrics_data()
    points: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points[metric.name] = list(metric.data.data_points)
    usage = {p.attributes["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]}
    assert usage["input"].sum == 20 and usage["output"].sum == 3
    assert usage["input"].attributes["gen_ai.request.model"] == "gpt"
    (duration,) = points["gen_ai.client.operation.duration"]
    assert duration.sum == pytest.approx(0.25)
    assert duration.attributes["gen_ai.operation.name"] == "chat"


def test_evaluation_result_event(otel: Any) -> None:
    observer, _, _, logs = otel
    assert observer.tracing is not None
    observer.tracing.record_evaluation(
        "drift.prompt.mmd", score=0.12, label="drifted", explanation="p=0.001", extra={"llmgate.model": "gpt"}
    )
    observer.tracing.flush()
    (record,) = logs.get_finished_logs()
    assert record.log_record.event_name == "gen_ai.evaluation.result"
    attrs = record.log_record.attributes
    assert attrs["gen_ai.evaluation.name"] == "drift.prompt.mmd"
    assert attrs["gen_ai.evaluation.score.value"] == pytest.approx(0.12)
    assert attrs["gen_ai.evaluation.score.label"] == "drifted"
    assert attrs["llmgate.model"] == "gpt"


def test_broken_exporter_setting_never_breaks_recording() -> None:
    from llmgate.telemetry.tracing import tracing_from

    assert tracing_from(OtelSettings()) is None  # off: nothing loaded
    observer = Observer(PriceBook(), CallMetrics(), OtelSettings(exporter="none"))
    row = observer.prepare(call())
    assert row["prompt_tokens"] == 20 and observer.tracing is None
