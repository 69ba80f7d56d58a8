"""Traffic metrics: counting finished calls, moving deltas between processes, and the Prometheus
text they become (read back with prometheus_client's own parser)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmgate.config import build_deployments, parse_config
from llmgate.pricing import PriceBook
from llmgate.recording import frames
from llmgate.telemetry.call_record import Attempt, CallRecord, to_row
from llmgate.telemetry.metrics import CallMetrics
from llmgate.telemetry.prometheus import Exposition, Sample
from support.configs import PRICED_GPT

CONFIG = {
    "model_list": [
        PRICED_GPT,
        {"model_name": "backup", "litellm_params": {"model": "openai/gpt-4o"}},
    ]
}
GPT, BACKUP = build_deployments(parse_config(CONFIG))
PRICES = PriceBook()


def call(**kwargs: Any) -> CallRecord:
    body = {
        "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
    base: dict[str, Any] = {
        "id": "b" * 32,
        "created_at": datetime(2026, 12, 1, tzinfo=UTC),
        "endpoint": "chat/completions",
        "model": "gpt",
        "request": {"messages": [{"role": "user", "content": "hi"}]},
        "stream": False,
        "deployment": GPT,
        "team_id": "search",
        "response_body": orjson.dumps(body),
        "latency_ms": 120.0,
        "attempts": [Attempt(GPT.id, "openai", "success", 110.0, status_code=200)],
    }
    return CallRecord(**{**base, **kwargs})


def observe(metrics: CallMetrics, record: CallRecord) -> None:
    metrics.observe(record, to_row(record, PRICES))


def families(metrics: CallMetrics, gauges: list[Sample] | None = None) -> dict[str, Any]:
    text = Exposition(metrics, lambda: gauges or []).render().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    for s in fams[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    raise AssertionError(f"no sample {sample} {labels}")


def test_requests_tokens_cost_and_latency_are_counted() -> None:
    metrics = CallMetrics()
    for _ in range(3):
        observe(metrics, call())
    # refused by a rate limit before any deployment was tried
    observe(
        metrics,
        call(status_code=429, error_type="rate_limited", response_body=None, attempts=[], deployment=None),
    )
    fams = families(metrics)
    assert value(fams, "llmgate_requests", "llmgate_requests_total", model="gpt", status_code="200") == 3
    assert value(fams, "llmgate_requests", "llmgate_requests_total", status_code="429") == 1
    assert (
        value(fams, "llmgate_request_errors", "llmgate_request_errors_total", error_type="rate_limited") == 1
    )
    assert value(fams, "llmgate_tokens", "llmgate_tokens_total", type="input", team="search") == 30
    assert value(fams, "llmgate_tokens", "llmgate_tokens_total", type="output") == 15
    expected_cost = float(3 * (10 * Decimal("0.000001") + 5 * Decimal("0.000002")))
    assert value(fams, "llmgate_cost_usd", "llmgate_cost_usd_total", model="gpt") == pytest.approx(
        expected_cost
    )
    # the 429 never reached a deployment: no latency observation for it
    assert value(fams, "llmgate_request_duration_seconds", "llmgate_request_duration_seconds_count") == 3
    assert value(
        fams, "llmgate_request_duration_seconds", "llmgate_request_duration_seconds_sum"
    ) == pytest.approx(0.36)
    hist = "llmgate_request_duration_seconds"
    assert value(fams, hist, hist + "_bucket", le="0.1") == 0
    assert value(fams, hist, hist + "_bucket", le="0.25") == 3
    assert value(fams, hist, hist + "_bucket", le="+Inf") == 3


def test_retries_fallbacks_attempts_and_ttft() -> None:
    metrics = CallMetrics()
    attempts = [
        Attempt(GPT.id, "openai", "error", 30.0, "upstream_timeout", 504),
        Attempt(BACKUP.id, "openai", "success", 80.0, status_code=200),
    ]
    observe(metrics, call(deployment=BACKUP, attempts=attempts, stream=True, ttft_ms=40.0))
    fams = families(metrics)
    assert value(fams, "llmgate_retries", "llmgate_retries_total", model="gpt") == 1
    assert (
        value(fams, "llmgate_fallbacks", "llmgate_fallbacks_total", model="gpt", fallback_model="backup") == 1
    )
    attempts_family = "llmgate_upstream_attempts"
    assert value(fams, attempts_family, attempts_family + "_total", outcome="upstream_timeout") == 1
    assert value(fams, attempts_family, attempts_family + "_total", outcome="success") == 1
    ttft = "llmgate_time_to_first_token_seconds"
    assert value(fams, ttft, ttft + "_count", deployment=BACKUP.id) == 1
    assert value(fams, ttft, ttft + "_bucket", le="0.05") == 1


def test_a_canary_candidate_answering_is_not_a_fallback_but_its_fall_back_to_stable_is() -> None:
    # the candidate arm of a canary on "gpt" is sent to the "backup" group first (routing/canaries.py)
    metrics = CallMetrics()
    first_time = [Attempt(BACKUP.id, "openai", "success", 80.0, status_code=200, group="backup")]
    observe(metrics, call(deployment=BACKUP, attempts=first_time, canary_id="c1", arm="candidate"))
    fams = families(metrics)
    fallbacks = fams.get("llmgate_fallbacks")
    assert fallbacks is None or not [s for s in fallbacks.samples if s.value], (
        "the candidate's answer counted"
    )
    assert value(fams, "llmgate_requests", "llmgate_requests_total", model="gpt") == 1
    fell_back = [
        Attempt(BACKUP.id, "openai", "error", 30.0, "upstream_error", 500, group="backup"),
        Attempt(GPT.id, "openai", "success", 80.0, status_code=200, group="gpt"),
    ]
    observe(metrics, call(deployment=GPT, attempts=fell_back, canary_id="c1", arm="candidate"))
    fams = families(metrics)
    assert value(fams, "llmgate_fallbacks", "llmgate_fallbacks_total", model="gpt", fallback_model="gpt") == 1


def test_deltas_survive_the_pipe_and_merge_into_totals() -> None:
    child, parent = CallMetrics(), CallMetrics()
    observe(child, call())
    observe(child, call())
    delta = frames.decode(frames.encode(child.take()))
    assert child.take() is None  # taken once
    parent.merge(delta)
    observe(child, call())
    parent.merge(child.take())
    parent.merge(None)
    fams = families(parent)
    assert value(fams, "llmgate_requests", "llmgate_requests_total", model="gpt") == 3
    assert value(fams, "llmgate_request_duration_seconds", "llmgate_request_duration_seconds_count") == 3


def test_gauges_from_the_server_are_exposed() -> None:
    gauges = [
        Sample("llmgate_circuit_state", 1.0, ("primary",)),
        Sample("llmgate_record_queue_depth", 7.0),
        Sample("llmgate_eval_pass_rate", 0.75, ("factual_qa", "gpt")),
        Sample("llmgate_records_written_total", 12.0),
    ]
    fams = families(CallMetrics(), gauges)
    assert value(fams, "llmgate_circuit_state", "llmgate_circuit_state", deployment="primary") == 1
    assert value(fams, "llmgate_record_queue_depth", "llmgate_record_queue_depth") == 7
    assert value(fams, "llmgate_eval_pass_rate", "llmgate_eval_pass_rate", suite="factual_qa") == 0.75
    assert fams["llmgate_records_written"].type == "counter"
    assert "process_resident_memory_bytes" in {s.name for f in fams.values() for s in f.samples}


def test_workers_share_totals_through_their_files(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmgate.telemetry.metrics import SharedTotals

    first, second = CallMetrics(), CallMetrics()
    monkeypatch.setattr("os.getpid", lambda: 101)
    one = SharedTotals(tmp_path, first)
    monkeypatch.setattr("os.getpid", lambda: 202)
    two = SharedTotals(tmp_path, second)
    observe(first, call())
    observe(first, call())
    observe(second, call())
    one.publish()
    fams = families(two.combined())  # worker 202 answers the scrape: its live totals + 101's file
    assert value(fams, "llmgate_requests", "llmgate_requests_total", model="gpt") == 3
    observe(second, call())
    assert value(families(two.combined()), "llmgate_requests", "llmgate_requests_total") == 4
    # worker 101 is gone: its file still counts, so totals never go backwards (a new worker 303 reads both)
    two.publish()
    monkeypatch.setattr("os.getpid", lambda: 303)
    assert (
        value(
            families(SharedTotals(tmp_path, CallMetrics()).combined()),
            "llmgate_requests",
            "llmgate_requests_total",
        )
        == 4
    )
