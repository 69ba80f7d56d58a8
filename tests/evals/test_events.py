"""Eval scores as OpenTelemetry ``gen_ai.evaluation.result`` events (in-memory exporter)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmgate.config import parse_config
from llmgate.evals.assertions.base import Outcome
from llmgate.evals.events import export_runs, record_runs
from llmgate.evals.results import CaseResult, RunSummary
from support.otel import memory_otel


def summary() -> RunSummary:
    def case(case_id: str, passed: bool) -> CaseResult:
        outcome = Outcome(
            "grounded", passed, 0.9 if passed else 0.2, reason="" if passed else "unsupported: 1912"
        )
        return CaseResult(
            case_id, 0, {}, "answer", "passed" if passed else "failed", outcome.score, [outcome]
        )

    return RunSummary(
        run_id="run-1",
        suite="factual_qa",
        suite_path=None,
        suite_hash="x",
        git_commit=None,
        model="gpt-4o-mini",
        trigger="cli",
        status="failed",
        started_at=datetime(2026, 12, 1, tzinfo=UTC),
        results=[case("paris", True), case("moon", True), case("titanic", False)],
    )


def test_each_assertion_and_the_pass_rate_become_events() -> None:
    otel = memory_otel()
    record_runs(otel.tracing, [summary()])
    events = otel.events()
    otel.tracing.shutdown()
    assert {e.event_name for e in events} == {"gen_ai.evaluation.result"}
    grounded = {
        e.attributes["llmgate.eval.case"]: e.attributes
        for e in events
        if e.attributes["gen_ai.evaluation.name"] == "grounded"
    }
    assert grounded["titanic"]["gen_ai.evaluation.score.label"] == "fail"
    assert grounded["titanic"]["gen_ai.evaluation.explanation"] == "unsupported: 1912"
    assert grounded["paris"]["gen_ai.evaluation.score.value"] == 0.9
    (rate,) = [
        e.attributes for e in events if e.attributes["gen_ai.evaluation.name"] == "llmgate.eval.pass_rate"
    ]
    assert rate["gen_ai.evaluation.score.value"] == 2 / 3
    assert rate["llmgate.eval.suite"] == "factual_qa" and rate["llmgate.model"] == "gpt-4o-mini"


def test_nothing_is_exported_when_otel_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import llmgate.telemetry.tracing as tracing_module

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("no exporter may be built when otel_exporter is none")

    monkeypatch.setattr(tracing_module, "tracing_from", refuse)
    config = parse_config({"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/echo"}}]})
    export_runs([summary()], config)
    export_runs([summary()], None)
    on = parse_config(
        {**config.model_dump(mode="json", exclude_none=True), "llmgate": {"otel_exporter": "console"}}
    )
    with pytest.raises(AssertionError, match="no exporter"):
        export_runs([summary()], on)
