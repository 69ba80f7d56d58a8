"""Traces and metrics from real traffic: the openai SDK through a gateway on loopback.

- ``GET /metrics`` parsed with prometheus_client's parser: counters move with traffic (recorded
  by the writer process and merged into the gateway's totals).
- The span tree, through an in-memory exporter: a request span per call with a child per
  upstream attempt, an incoming ``traceparent`` continued.
- An OTLP/HTTP receiver on loopback gets the spans when the config says ``otel_exporter: otlp_http``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from llmgate.server.app import Overrides
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.otel import memory_otel
from support.upstream import FakeUpstream

MESSAGES: list[Any] = [{"role": "user", "content": "What is the capital of France?"}]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def scrape(gateway: RunningGateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = gateway.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[sample.name, tuple(sorted(sample.labels.items()))] = float(sample.value)
    return out


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(
        v
        for (n, ls), v in samples.items()
        if n == name and all(dict(ls).get(k) == w for k, w in labels.items())
    )


def test_metrics_counters_move_with_traffic(gateway: RunningGateway) -> None:
    before = scrape(gateway)
    client: openai.OpenAI = gateway.client(MASTER_KEY)
    for _ in range(3):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    for _ in stream:
        pass
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    gateway.flush()
    after = scrape(gateway)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("llmgate_requests_total", model="gpt-4o-mini", status_code="200") == 4
    # a model that is not configured is counted under one label, however many names are tried
    assert moved("llmgate_requests_total", model="__unknown__", status_code="404") == 1
    assert moved("llmgate_request_errors_total", model="__unknown__") == 1
    assert moved("llmgate_requests_total", model="no-such-model") == 0
    assert moved("llmgate_request_duration_seconds_count", model="gpt-4o-mini") == 4
    assert moved("llmgate_time_to_first_token_seconds_count", model="gpt-4o-mini") == 1
    assert moved("llmgate_tokens_total", model="gpt-4o-mini", type="input") > 0
    assert moved("llmgate_tokens_total", model="gpt-4o-mini", type="output") > 0
    assert moved("llmgate_cost_usd_total", model="gpt-4o-mini") > 0
    assert moved("llmgate_upstream_attempts_total", outcome="success") == 4
    # live gauges: the deployment's circuit is closed, nothing is queued, the store is up
    assert total(after, "llmgate_circuit_state") == 0
    assert ("llmgate_record_queue_depth", ()) in after
    assert total(after, "llmgate_store_up") == 1
    assert total(after, "llmgate_records_written_total") >= 5


def test_metrics_can_require_the_admin_key(upstream: FakeUpstream, gateway_factory: Any) -> None:
    gateway = gateway_factory(upstream_config(upstream, metrics_require_auth=True))
    refused = gateway.get("/metrics")
    assert refused.status_code in (401, 403)
    assert "error" in refused.json()
    allowed = gateway.get("/metrics", headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert allowed.status_code == 200 and "llmgate_requests" in allowed.text


@pytest.fixture
def traced(
    upstream: FakeUpstream, gateway_factory: Any
) -> Iterator[tuple[RunningGateway, InMemorySpanExporter]]:
    otel = memory_otel()
    spans, tracing = otel.spans, otel.tracing
    config = upstream_config(upstream)
    config["model_list"].insert(
        0,
        {  # a primary that is down, so the request falls back to gpt-4o-mini
            "model_name": "flaky",
            "litellm_params": {
                "model": "openai/gpt-4o",
                "api_base": "http://127.0.0.1:9/v1",
                "api_key": "sk-x",
            },
        },
    )
    config["router_settings"] = {"num_retries": 0, "fallbacks": [{"flaky": ["gpt-4o-mini"]}]}
    gateway = gateway_factory(config, overrides=Overrides(tracing=tracing))
    yield gateway, spans
    tracing.shutdown()


def test_span_tree_continues_the_callers_trace(traced: tuple[RunningGateway, InMemorySpanExporter]) -> None:
    gateway, spans = traced
    client: openai.OpenAI = gateway.client(MASTER_KEY)
    response = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
    )
    request_id = response.headers["x-llmgate-request-id"]
    gateway.flush()
    gateway.state.observer.tracing.flush()
    done = spans.get_finished_spans()
    (server,) = [s for s in done if s.kind is SpanKind.SERVER]
    (attempt,) = [s for s in done if s.kind is SpanKind.CLIENT]
    assert server.name == "chat gpt-4o-mini"
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None and format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert attempt.parent is not None and attempt.parent.span_id == server.context.span_id
    assert server.attributes["llmgate.request.id"] == request_id
    assert server.attributes["gen_ai.usage.input_tokens"] > 0
    assert server.attributes["gen_ai.provider.name"] == "openai"
    assert "gen_ai.input.messages" not in server.attributes  # otel_capture_content is off


def test_fallback_is_one_trace_with_a_child_per_attempt(
    traced: tuple[RunningGateway, InMemorySpanExporter],
) -> None:
    gateway, spans = traced
    client: openai.OpenAI = gateway.client(MASTER_KEY)
    response = client.chat.completions.with_raw_response.create(model="flaky", messages=MESSAGES)
    request_id = response.headers["x-llmgate-request-id"]
    gateway.flush()
    gateway.state.observer.tracing.flush()
    done = spans.get_finished_spans()
    (server,) = [s for s in done if s.kind is SpanKind.SERVER]
    attempts = sorted((s for s in done if s.kind is SpanKind.CLIENT), key=lambda s: s.start_time)
    assert server.name == "chat flaky"
    assert format(server.context.trace_id, "032x") == request_id  # no traceparent: the request id
    assert [a.name for a in attempts] == ["chat gpt-4o", "chat gpt-4o-mini"]
    assert attempts[0].attributes["error.type"]
    assert server.attributes["llmgate.fallback"] is True and server.attributes["llmgate.attempts"] == 2


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_otlp_http_receiver_gets_the_spans(
    upstream: FakeUpstream, gateway_factory: Any, otlp_receiver: tuple[str, list[tuple[str, bytes]]]
) -> None:
    endpoint, received = otlp_receiver
    config = upstream_config(
        upstream, otel_exporter="otlp_http", otel_endpoint=endpoint, otel_capture_content=True
    )
    gateway = gateway_factory(config)
    client: openai.OpenAI = gateway.client(MASTER_KEY)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    gateway.stop()  # the writer process drains and shuts its exporters down: every batch goes out
    spans = []
    for path, body in received:
        if path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
                assert service == "llmgate"
                for scope in resource.scope_spans:
                    spans.extend(scope.spans)
    names = sorted(s.name for s in spans)
    assert names == ["chat gpt-4o-mini", "chat gpt-4o-mini"]
    server = next(s for s in spans if not s.parent_span_id)
    attributes = {a.key: a.value for a in server.attributes}
    assert attributes["gen_ai.operation.name"].string_value == "chat"
    assert attributes["gen_ai.usage.output_tokens"].int_value > 0
    assert "capital of France" in attributes["gen_ai.input.messages"].string_value  # otel_capture_content
    assert {path for path, _ in received} >= {"/v1/traces", "/v1/metrics"}


def test_otlp_grpc_receiver_gets_the_spans(upstream: FakeUpstream, gateway_factory: Any) -> None:
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received: list[ExportTraceServiceRequest] = []

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            received.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        config = upstream_config(upstream, otel_exporter="otlp_grpc", otel_endpoint=f"127.0.0.1:{port}")
        gateway = gateway_factory(config)
        client: openai.OpenAI = gateway.client(MASTER_KEY)
        for _ in range(2):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        gateway.stop()
    finally:
        server.stop(0)
    spans = [s for r in received for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert sorted(s.name for s in spans) == ["chat gpt-4o-mini"] * 4
    assert len({s.trace_id for s in spans}) == 2  # two requests, two traces
