"""``llmgate.canary.gates``: each gate's verdict on evidence built to be clearly worse, clearly no
worse, too thin, or absent; the alpha split; the drift and eval gates; the stored JSON form."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from llmgate.canary.evidence import CallBatch, CanaryEvidence, QualityBatch
from llmgate.canary.gates import DEFAULT_TOLERANCES, MIN_PER_ARM, GateResult, evaluate_gates

RNG = np.random.default_rng(19)


def calls(
    n: int,
    *,
    errors: float = 0.0,
    latency: float = 800.0,
    streamed: float = 0.0,
    ttft: float = 300.0,
    cost: float | None = 0.002,
    chars: float = 600.0,
    refusals: float = 0.0,
    cut: float = 0.0,
) -> CallBatch:
    """``n`` calls with exactly the given shares (errors, refusals, ...) and lognormal spreads."""

    def share(p: float) -> np.ndarray:
        flags = np.zeros(n, dtype=bool)
        flags[: round(p * n)] = True
        return RNG.permutation(flags)

    ttfts = ttft * RNG.lognormal(0, 0.5, n)
    ttfts[~share(streamed)] = np.nan
    return CallBatch(
        error=share(errors),
        ok=np.ones(n, dtype=bool),
        latency_ms=latency * RNG.lognormal(0, 0.5, n),
        ttft_ms=ttfts,
        cost_usd=np.full(n, np.nan) if cost is None else cost * RNG.lognormal(0, 0.6, n),
        response_chars=np.round(chars * RNG.lognormal(0, 0.6, n)),
        refusal=share(refusals),
        bad_finish=share(cut),
    )


def scores(n: int, groundedness: float = 0.8, relevance: float = 0.75, vectors: int = 0) -> QualityBatch:
    return QualityBatch(
        groundedness=np.clip(RNG.normal(groundedness, 0.15, n), 0, 1),
        context_relevance=np.clip(RNG.normal(relevance, 0.15, n), 0, 1),
        answer_relevance=np.clip(RNG.normal(0.9, 0.1, n), 0, 1),
        vectors=tuple(RNG.normal(size=8).astype(np.float32) for _ in range(vectors)),
    )


def canary(
    candidate: CallBatch | None,
    stable: CallBatch | None,
    candidate_scores: QualityBatch | None = None,
    stable_scores: QualityBatch | None = None,
) -> CanaryEvidence:
    evidence = CanaryEvidence()
    for arm, batch, quality in (
        ("candidate", candidate, candidate_scores),
        ("stable", stable, stable_scores),
    ):
        if batch is not None:
            evidence.add_calls(arm, batch)
        if quality is not None:
            evidence.arm(arm).add_quality(quality)
    return evidence


def gate(evidence: CanaryEvidence, name: str, **kwargs: Any) -> GateResult:
    (result,) = evaluate_gates(evidence, [name], **kwargs)
    return result


def test_a_candidate_failing_40_percent_of_calls_fails_the_errors_gate() -> None:
    result = gate(canary(calls(300, errors=0.4), calls(2700, errors=0.01)), "errors")
    assert result.verdict == "fail"
    assert result.effect == pytest.approx(0.39)
    assert result.low is not None and result.low > DEFAULT_TOLERANCES["errors"]
    assert (result.n_candidate, result.n_stable) == (300, 2700)
    assert "candidate 40.00% vs stable 1.00%" in result.note


def test_the_same_error_rate_on_enough_calls_passes_and_on_few_is_undecided() -> None:
    same = gate(canary(calls(3000, errors=0.01), calls(27000, errors=0.01)), "errors")
    assert same.verdict == "pass"
    assert same.high is not None and same.high < 0.02
    few = gate(canary(calls(200, errors=0.01), calls(1800, errors=0.01)), "errors")
    assert few.verdict == "undecided"
    assert few.low is not None and few.high is not None and few.low < 0.0 < 0.02 < few.high


def test_no_verdict_below_thirty_per_arm_however_bad() -> None:
    thin = gate(canary(calls(MIN_PER_ARM - 1, errors=1.0), calls(5000)), "errors")
    assert thin.verdict == "undecided"
    assert f"fewer than {MIN_PER_ARM} per arm" in thin.note
    # the bound is tuned for effects near the tolerance: even a candidate failing every call needs
    # on the order of a hundred calls before its lower end clears 2 points at 99.5%
    enough = gate(canary(calls(120, errors=1.0), calls(5000)), "errors")
    assert enough.verdict == "fail"


def test_no_calls_is_no_data_and_says_which_arm() -> None:
    result = gate(canary(None, calls(100)), "errors")
    assert result.verdict == "no_data"
    assert result.effect is None and result.confidence is None
    assert "candidate" in result.note


def test_latency_fails_a_candidate_half_again_as_slow_and_passes_an_equal_one() -> None:
    slower = gate(canary(calls(1000, latency=1200.0), calls(9000)), "latency")
    assert slower.verdict == "fail"
    assert slower.low is not None and slower.low > 0.0
    assert "x stable's p95 latency" in slower.note
    equal = gate(canary(calls(1500), calls(13500)), "latency")
    assert equal.verdict == "pass"
    assert equal.effect is not None and equal.effect < 0  # about 2% over 1.2 x p95, minus the 5% allowed


def test_ttft_reads_streamed_calls_only_and_has_no_data_without_streams() -> None:
    assert gate(canary(calls(500), calls(4500)), "ttft").verdict == "no_data"
    slower = gate(canary(calls(2000, streamed=0.5, ttft=450.0), calls(18000, streamed=0.5)), "ttft")
    assert slower.verdict == "fail"
    assert (slower.n_candidate, slower.n_stable) == (1000, 9000)


def test_cost_is_relative_to_stable_and_needs_prices() -> None:
    dearer = gate(canary(calls(2000, cost=0.003), calls(18000)), "cost")
    assert dearer.verdict == "fail"
    assert dearer.effect == pytest.approx(0.5, abs=0.1)
    assert gate(canary(calls(3000), calls(27000)), "cost").verdict == "pass"
    unpriced = gate(canary(calls(100, cost=None), calls(900)), "cost")
    assert unpriced.verdict == "no_data" and "priced" in unpriced.note
    free = gate(canary(calls(100, cost=0.0), calls(900, cost=0.0)), "cost")
    assert free.verdict == "no_data"


def test_output_length_fails_either_way_and_passes_the_same() -> None:
    for chars in (300.0, 1200.0):
        result = gate(canary(calls(500, chars=chars), calls(4500)), "output_length")
        assert result.verdict == "fail", chars
        assert result.effect == pytest.approx(abs(chars / 600 - 1), abs=0.1)
        assert result.low is not None and result.low > 0.25
    same = gate(canary(calls(500), calls(4500)), "output_length")
    assert same.verdict == "pass"
    assert same.low == 0.0 and same.high is not None and same.high < 0.25


@pytest.mark.parametrize(("name", "field"), [("refusals", "refusals"), ("finish_reasons", "cut")])
def test_refusals_and_cut_answers_fail_when_much_more_frequent(name: str, field: str) -> None:
    worse = gate(canary(calls(1000, **{field: 0.15}), calls(9000, **{field: 0.02})), name)
    assert worse.verdict == "fail"
    same = gate(canary(calls(4000, **{field: 0.01}), calls(36000, **{field: 0.01})), name)
    assert same.verdict == "pass"


def test_groundedness_fails_an_ungrounded_candidate_and_needs_monitor_scores() -> None:
    both = calls(300), calls(2700)
    worse = gate(canary(*both, scores(300, groundedness=0.2), scores(2700)), "groundedness")
    assert worse.verdict == "fail"
    assert worse.effect == pytest.approx(0.6, abs=0.05)  # stable - candidate: positive is worse
    same = gate(canary(*both, scores(1000), scores(9000)), "context_relevance")
    assert same.verdict == "pass"
    off = gate(canary(*both), "answer_relevance")
    assert off.verdict == "no_data" and "monitors off" in off.note


def test_alpha_is_split_over_the_gates_with_data_for_rollbacks_only() -> None:
    evidence = canary(calls(500), calls(4500))  # no streams, no monitor scores
    results = evaluate_gates(evidence, ["errors", "latency", "ttft", "groundedness", "cost"], alpha=0.06)
    live = [r for r in results if r.verdict != "no_data"]
    assert [r.name for r in live] == ["errors", "latency", "cost"]
    for r in live:
        assert r.confidence == pytest.approx(1 - 0.06 / 3)
        assert r.confidence_high == pytest.approx(1 - 0.06)
    # the same evidence judged alone: the whole budget on one gate, a narrower lower end
    alone = gate(evidence, "errors", alpha=0.06)
    assert alone.low is not None and live[0].low is not None and alone.low > live[0].low
    assert alone.high == pytest.approx(live[0].high)


def test_tolerances_override_the_defaults() -> None:
    evidence = canary(calls(2000, errors=0.1), calls(18000, errors=0.01))
    assert gate(evidence, "errors").verdict == "fail"
    loose = gate(evidence, "errors", tolerances={"errors": 0.2})
    assert (loose.verdict, loose.tolerance) == ("pass", 0.2)


def drift_evidence(vectors: int) -> CanaryEvidence:
    return canary(None, None, scores(vectors, vectors=vectors), scores(vectors, vectors=vectors))


def test_the_drift_gate_uses_the_injected_test_at_its_share_of_alpha() -> None:
    seen: list[tuple[int, int]] = []

    def drifted(candidate: np.ndarray, stable: np.ndarray) -> tuple[float, float, float]:
        seen.append((candidate.shape[0], stable.shape[0]))
        return 0.4, 0.02, 0.1

    evidence = drift_evidence(80)
    result = gate(evidence, "response_drift", drift=drifted)
    assert result.verdict == "fail" and result.effect == 0.4 and result.tolerance == 0.1
    assert seen == [(80, 80)]
    # p = 0.02 is below 0.05 alone, not below 0.05 / 4 with three more gates holding data
    shared = evaluate_gates(
        evidence, ["response_drift", "groundedness", "context_relevance", "answer_relevance"], drift=drifted
    )
    assert shared[0].verdict == "undecided"

    def quiet(candidate: np.ndarray, stable: np.ndarray) -> tuple[float, float, float]:
        return 0.05, 0.6, 0.1

    assert gate(evidence, "response_drift", drift=quiet).verdict == "pass"
    assert (
        gate(evidence, "response_drift", drift=quiet, tolerances={"response_drift": 0.01}).verdict
        == "undecided"
    )


def test_the_drift_gate_waits_for_vectors_and_survives_a_broken_test() -> None:
    def broken(candidate: np.ndarray, stable: np.ndarray) -> tuple[float, float, float]:
        raise RuntimeError("faiss is not installed")

    assert gate(drift_evidence(49), "response_drift", drift=broken).verdict == "undecided"
    failed = gate(drift_evidence(60), "response_drift", drift=broken)
    assert failed.verdict == "undecided" and "faiss is not installed" in failed.note
    off = gate(drift_evidence(60), "response_drift")
    assert off.verdict == "no_data" and "no drift test" in off.note


def test_eval_gates_wait_for_the_controller_unless_a_result_is_given() -> None:
    evidence = canary(calls(100), calls(900))
    pending = gate(evidence, "eval:evals/factual_qa.yaml")
    assert pending.verdict == "undecided" and pending.note == "runs before each promotion"
    ran = GateResult("eval:evals/factual_qa.yaml", "fail", -0.12, -0.2, -0.04, 0.0, 50, 50, 0.95, "regressed")
    assert gate(evidence, "eval:evals/factual_qa.yaml", eval_results={ran.name: ran}) is ran


def test_unknown_gates_and_bad_alphas_are_refused() -> None:
    evidence = canary(calls(10), calls(10))
    with pytest.raises(ValueError, match="unknown canary gate"):
        evaluate_gates(evidence, ["errors", "vibes"])
    with pytest.raises(ValueError, match="alpha"):
        evaluate_gates(evidence, ["errors"], alpha=1.5)


def test_a_result_round_trips_through_json_with_infinities_as_null() -> None:
    result = GateResult("errors", "undecided", 0.01, -math.inf, math.inf, 0.02, 3, 27, 0.995, "thin", 0.95)
    data = result.as_dict()
    assert data["low"] is None and data["high"] is None
    back = GateResult.from_dict(data)
    assert back == GateResult("errors", "undecided", 0.01, None, None, 0.02, 3, 27, 0.995, "thin", 0.95)


def test_the_drift_test_runs_again_only_when_enough_new_embeddings_came_in() -> None:
    runs: list[int] = []

    def counted(candidate: np.ndarray, stable: np.ndarray) -> tuple[float, float, float]:
        runs.append(candidate.shape[0])
        return 0.05, 0.5, 0.1

    evidence = drift_evidence(100)
    for _ in range(3):
        assert gate(evidence, "response_drift", drift=counted).verdict == "pass"
    assert runs == [100]
    evidence.candidate.add_quality(scores(20, vectors=20))
    gate(evidence, "response_drift", drift=counted)
    assert runs == [100]  # 20 more: not yet
    evidence.candidate.add_quality(scores(30, vectors=30))
    gate(evidence, "response_drift", drift=counted)
    assert runs == [100, 150]
