"""Eval results as OpenTelemetry ``gen_ai.evaluation.result`` events.

When the config exports OpenTelemetry (``llmgate.otel_exporter``), every assertion of every case
becomes one event (name: the assertion's metric or type; score; label ``pass``/``fail``; the
reason as explanation), and each run one more (``llmgate.eval.pass_rate``), so a tracing backend
sees eval scores beside the traffic they judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from llmgate.telemetry.otel_settings import OtelSettings

if TYPE_CHECKING:
    from llmgate.config.schema import GatewayConfig
    from llmgate.evals.results import RunSummary
    from llmgate.telemetry.tracing import Tracing


def export_runs(summaries: Sequence[RunSummary], config: GatewayConfig | None) -> None:
    """Send the runs' scores to the configured OpenTelemetry exporter (nothing when it is off)."""
    if config is None or not summaries:
        return
    settings = OtelSettings.from_config(config.llmgate)
    if not settings.enabled:
        return
    # the OpenTelemetry SDK loads only when tracing is on
    from llmgate.telemetry.tracing import tracing_from

    tracing = tracing_from(settings)
    if tracing is None:
        return
    try:
        record_runs(tracing, summaries)
    finally:
        tracing.shutdown()


def record_runs(tracing: Tracing, summaries: Sequence[RunSummary]) -> None:
    for run in summaries:
        common = {
            "llmgate.eval.suite": run.suite,
            "llmgate.eval.run_id": run.run_id,
            "llmgate.model": run.model,
        }
        for case in run.results:
            for outcome in case.assertions:
                tracing.record_evaluation(
                    outcome.metric or outcome.type,
                    score=outcome.score,
                    label="pass" if outcome.passed else "fail",
                    explanation=outcome.error or outcome.reason or None,
                    extra={
                        **common,
                        "llmgate.eval.case": case.case_id,
                        "llmgate.eval.repetition": case.repetition,
                    },
                )
        if run.results:
            passed = sum(1 for case in run.results if case.passed)
            tracing.record_evaluation(
                "llmgate.eval.pass_rate",
                score=passed / len(run.results),
                label=run.status,
                extra=common,
            )
