"""``llmgate.canary.decide``: any failing gate rolls back; a step is promoted only when every gate
passes or has no data, one at least passes, and the step has served its minimum of requests."""

from __future__ import annotations

from llmgate.canary.decide import decide, describe
from llmgate.canary.gates import GateResult, Verdict


def result(name: str, verdict: Verdict, effect: float | None = 0.0) -> GateResult:
    low, high = (None, None) if effect is None else (effect - 0.01, effect + 0.01)
    return GateResult(name, verdict, effect, low, high, 0.02, 400, 3600, 0.995, "", 0.95)


def test_any_failing_gate_rolls_back_and_names_it_with_its_numbers() -> None:
    decision = decide(
        [result("errors", "fail", 0.39), result("latency", "pass"), result("groundedness", "fail", 0.6)],
        step_requests=5,
        min_step_requests=100,
    )
    assert decision.action == "rollback"
    assert decision.failing == ("errors", "groundedness")
    assert "errors: +0.39 [+0.38, +0.4] vs tolerance 0.02 (n 400/3600)" in decision.reason


def test_every_gate_passing_or_without_data_promotes_once_the_step_has_its_requests() -> None:
    results = [result("errors", "pass"), result("ttft", "no_data", None), result("cost", "pass")]
    assert decide(results, step_requests=100, min_step_requests=100).action == "promote"
    held = decide(results, step_requests=99, min_step_requests=100)
    assert (held.action, held.reason) == ("hold", "99 of 100 candidate requests at this step")
    promoted = decide(results, step_requests=250, min_step_requests=100)
    assert "non-inferior on errors, cost (no data: ttft)" in promoted.reason


def test_an_undecided_gate_holds_and_so_does_having_no_evidence_at_all() -> None:
    waiting = decide(
        [
            result("errors", "pass"),
            result("refusals", "undecided"),
            result("eval:evals/qa.yaml", "undecided", None),
        ],
        step_requests=10_000,
        min_step_requests=100,
    )
    assert waiting.action == "hold"
    assert "refusals, eval:evals/qa.yaml" in waiting.reason
    nothing = decide([result("ttft", "no_data", None)], step_requests=10_000, min_step_requests=100)
    assert (nothing.action, nothing.failing) == ("hold", ())


def test_a_gate_without_numbers_is_described_by_its_note() -> None:
    gate = GateResult(
        "ttft", "no_data", None, None, None, 0.0, 0, 100, None, "no streamed calls on the candidate"
    )
    assert describe(gate) == "ttft: no_data (no streamed calls on the candidate)"
