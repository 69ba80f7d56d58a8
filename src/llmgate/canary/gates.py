"""The canary's gates: for each signal, is the candidate surely no worse than stable, surely
worse by more than the tolerance, or not known yet?

Harm is always "candidate worse than stable", as a number where larger is worse (the effect).
Each gate bounds that effect with an always-valid confidence sequence (``sequential``) on all the
evidence since the canary started, and says

- ``pass`` when the whole bound is below the tolerance (non-inferiority shown: ``high < tolerance``);
- ``fail`` when the whole bound is above it (``low > tolerance``): the controller rolls back;
- ``undecided`` in between, and always while either arm has fewer than ``MIN_PER_ARM`` (30)
  observations of the signal;
- ``no_data`` when an arm has no observation of the signal at all (no streamed calls, no monitor
  scores, no priced calls): such a gate never holds a step, and its note says why.

The gates (tolerances in ``DEFAULT_TOLERANCES``, overridable per canary):

- ``errors``: share of calls that failed or took more than one attempt, candidate - stable (0.02).
- ``latency`` / ``ttft``: T = 1.2 x stable's 95th percentile so far; the candidate's share of
  successful calls (streamed calls, for ``ttft``) slower than T, minus 0.05 (tolerance 0: fail when
  surely more than 5% of its calls are slower than 1.2 x stable's p95; stable itself has ~5% over
  its p95 and fewer over 1.2 x it).
- ``cost``: mean cost per successful priced call, candidate / stable - 1 (0.10: 10% dearer).
- ``refusals``: share of answers that refuse, candidate - stable (0.02).
- ``output_length``: |mean answer length ratio - 1| (0.25, either way).
- ``finish_reasons``: share of answers that did not finish normally, candidate - stable (0.02).
- ``groundedness``, ``context_relevance``, ``answer_relevance``: stable's mean monitor score minus
  the candidate's (0.05).
- ``response_drift``: the injected drift test of the candidate's answer embeddings against
  stable's; ``fail`` when its p-value is below the gate's alpha and the statistic is past the
  monitors' threshold, ``pass`` when the statistic is below that threshold; 50 vectors per arm first.
  A repeated test rather than a confidence sequence: the materiality threshold is what keeps it quiet.
- ``eval:PATH``: run by the controller before each promotion; passed in as a result.

The false-rollback budget ``alpha`` is split evenly (Bonferroni) over the gates that can fail on live
data and have data (the sequential gates and ``response_drift``): the lower bounds (each read
one-sided, ``sequential.one_sided``), and the drift test, are at ``alpha / k``, so a candidate
identical to stable is rolled back with probability at most ``alpha`` over the canary's whole life.
The upper bounds are one-sided at ``alpha`` each: a promotion needs every gate, so a candidate worse
than a tolerance is promoted only if that gate's bound is wrong (``verdicts.Levels``). The mixing
scale of each bound is the gate's tolerance (5% for the latency gates, whose tolerance is 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from llmgate.canary.evidence import ArmEvidence, CanaryEvidence, RunningMoments
from llmgate.canary.sequential import (
    ConfidenceSequence,
    Ends,
    mean_diff_cs,
    one_sided,
    proportion_cs,
    proportion_diff_cs,
    ratio_cs,
)
from llmgate.canary.verdicts import GateResult, Levels, Verdict
from llmgate.config.canary_settings import EVAL_GATE_PREFIX

__all__ = [
    "DEFAULT_TOLERANCES",
    "LATENCY_FACTOR",
    "LATENCY_SHARE",
    "MIN_PER_ARM",
    "MIN_VECTORS",
    "SEQUENTIAL_GATES",
    "DriftTest",
    "GateResult",
    "Levels",
    "Verdict",
    "evaluate_gates",
]

#: ``(candidate_vectors, stable_vectors) -> (statistic, p_value, threshold)``: the monitors' drift test.
DriftTest = Callable[[np.ndarray[Any, Any], np.ndarray[Any, Any]], tuple[float, float, float]]

DEFAULT_TOLERANCES: Mapping[str, float] = MappingProxyType(
    {
        "errors": 0.02,
        "latency": 0.0,
        "ttft": 0.0,
        "cost": 0.10,
        "refusals": 0.02,
        "output_length": 0.25,
        "finish_reasons": 0.02,
        "groundedness": 0.05,
        "context_relevance": 0.05,
        "answer_relevance": 0.05,
    }
)
SEQUENTIAL_GATES = tuple(DEFAULT_TOLERANCES)
#: Observations per arm before a gate may say anything but undecided / no_data.
MIN_PER_ARM = 30
#: Answer embeddings per arm before the drift gate runs.
MIN_VECTORS = 50
LATENCY_FACTOR = 1.2
LATENCY_SHARE = 0.05
#: The confidence sequences' mixing scale is the tolerance; these stand in where it is 0.
_SCALE_IF_ZERO = dict(DEFAULT_TOLERANCES) | {"latency": LATENCY_SHARE, "ttft": LATENCY_SHARE}
_Gate = Callable[[CanaryEvidence, float, Levels], GateResult]


def _tau(name: str, tolerance: float) -> float:
    return tolerance if tolerance > 0 else _SCALE_IF_ZERO.get(name, LATENCY_SHARE)


def _no_data(name: str, tolerance: float | None, n_c: int, n_s: int, note: str) -> GateResult:
    return GateResult(name, "no_data", None, None, None, tolerance, n_c, n_s, None, note)


def _empty(n_c: int, n_s: int) -> str:
    return "candidate" if n_c == 0 and n_s > 0 else "stable arm" if n_s == 0 and n_c > 0 else "two arms"


def _judge(
    name: str,
    bound: Callable[[float, Ends], ConfidenceSequence],
    levels: Levels,
    tolerance: float,
    note: str,
    n_c: int,
    n_s: int,
    *,
    shift: float = 0.0,
    fold: bool = False,
) -> GateResult:
    """The verdict on ``effect + shift`` (``|effect|`` with ``fold``: a change either way), bounded
    below at the rollback level and above at the promotion level (each end one-sided)."""
    ends: tuple[Ends, Ends] = ("both", "both") if fold else ("low", "high")
    low_cs, high_cs = bound(one_sided(levels.rollback), ends[0]), bound(one_sided(levels.promote), ends[1])
    effect, low, high = low_cs.effect, low_cs.low, high_cs.high
    if fold:  # |effect| over the bound: its nearest point to 0 below, its farthest above
        low = 0.0 if low_cs.low <= 0.0 <= low_cs.high else min(abs(low_cs.low), abs(low_cs.high))
        effect, high = abs(effect), max(abs(high_cs.low), abs(high_cs.high))
    effect, low, high = effect + shift, low + shift, high + shift
    verdict: Verdict = "undecided"
    if min(n_c, n_s) < MIN_PER_ARM:
        note = f"{note}; fewer than {MIN_PER_ARM} per arm"
    elif low > tolerance:
        verdict = "fail"
    elif high < tolerance:
        verdict = "pass"
    confidence, confidence_high = 1.0 - levels.rollback, 1.0 - levels.promote
    return GateResult(
        name, verdict, effect, low, high, tolerance, n_c, n_s, confidence, note, confidence_high
    )


def _rate_gate(name: str, what: str, unit: str, counts: Callable[[ArmEvidence], tuple[int, int]]) -> _Gate:
    def gate(evidence: CanaryEvidence, tolerance: float, levels: Levels) -> GateResult:
        x_c, n_c = counts(evidence.candidate)
        x_s, n_s = counts(evidence.stable)
        if n_c == 0 or n_s == 0:
            return _no_data(name, tolerance, n_c, n_s, f"no {unit} yet on the {_empty(n_c, n_s)}")
        tau = _tau(name, tolerance)

        def bound(alpha: float, ends: Ends) -> ConfidenceSequence:
            return proportion_diff_cs(x_c, n_c, x_s, n_s, alpha=alpha, tau=tau, ends=ends)

        note = f"candidate {x_c / n_c:.2%} vs stable {x_s / n_s:.2%} of {what}"
        return _judge(name, bound, levels, tolerance, note, n_c, n_s)

    return gate


def _slow_share_gate(name: str, label: str, streamed: bool) -> _Gate:
    def gate(evidence: CanaryEvidence, tolerance: float, levels: Levels) -> GateResult:
        cand = evidence.candidate.ttft_ms if streamed else evidence.candidate.latency_ms
        n_c = int(cand.size)
        n_s = int((evidence.stable.ttft_ms if streamed else evidence.stable.latency_ms).size)
        if n_c == 0 or n_s == 0:
            what = "streamed calls" if streamed else "successful calls"
            return _no_data(name, tolerance, n_c, n_s, f"no {what} on the {_empty(n_c, n_s)}")
        p95 = evidence.stable.latency_quantile(0.95, streamed=streamed)
        limit = LATENCY_FACTOR * p95
        over = int((cand > limit).sum())
        tau = _tau(name, tolerance)

        def bound(alpha: float, ends: Ends) -> ConfidenceSequence:
            return proportion_cs(over, n_c, alpha=alpha, tau=tau, ends=ends)

        note = (
            f"{over / n_c:.1%} of the candidate's calls over {limit:.0f} ms "
            f"({LATENCY_FACTOR:g} x stable's p95 {label} {p95:.0f} ms; allowed {LATENCY_SHARE:.0%})"
        )
        return _judge(name, bound, levels, tolerance, note, n_c, n_s, shift=-LATENCY_SHARE)

    return gate


def _var(m: RunningMoments) -> float:
    return 0.0 if math.isnan(m.variance) else m.variance


def _ratio(c: RunningMoments, s: RunningMoments, tau: float) -> Callable[[float, Ends], ConfidenceSequence]:
    def bound(alpha: float, ends: Ends) -> ConfidenceSequence:
        return ratio_cs(
            c.mean, _var(c), c.count, s.mean, _var(s), s.count, alpha=alpha, tau=tau, cv_floor=0.05
        )

    return bound


def cost_gate(evidence: CanaryEvidence, tolerance: float, levels: Levels) -> GateResult:
    """Mean cost per successful priced call, candidate / stable - 1."""
    c, s = evidence.candidate.cost, evidence.stable.cost
    if c.count == 0 or s.count == 0:
        return _no_data(
            "cost", tolerance, c.count, s.count, f"no priced calls on the {_empty(c.count, s.count)}"
        )
    if s.mean <= 0.0:
        return _no_data("cost", tolerance, c.count, s.count, "stable's calls cost nothing: no relative cost")
    note = f"candidate ${c.mean:.6f} vs stable ${s.mean:.6f} per call ({c.mean / s.mean - 1:+.1%})"
    return _judge("cost", _ratio(c, s, _tau("cost", tolerance)), levels, tolerance, note, c.count, s.count)


def output_length_gate(evidence: CanaryEvidence, tolerance: float, levels: Levels) -> GateResult:
    """|mean answer length ratio - 1|, candidate over stable (a change either way)."""
    c, s = evidence.candidate.response_chars, evidence.stable.response_chars
    if c.count == 0 or s.count == 0 or s.mean <= 0.0:
        where = _empty(c.count, s.count) if c.count == 0 or s.count == 0 else "stable arm (all empty)"
        return _no_data("output_length", tolerance, c.count, s.count, f"no answer lengths on the {where}")
    bound = _ratio(c, s, _tau("output_length", tolerance))
    note = f"candidate {c.mean:.0f} vs stable {s.mean:.0f} characters per answer ({c.mean / s.mean - 1:+.1%})"
    return _judge("output_length", bound, levels, tolerance, note, c.count, s.count, fold=True)


def _score_gate(name: str) -> _Gate:
    def gate(evidence: CanaryEvidence, tolerance: float, levels: Levels) -> GateResult:
        c, s = evidence.candidate.scores(name), evidence.stable.scores(name)
        if c.count == 0 or s.count == 0:
            note = (
                f"no {name} scores on the {_empty(c.count, s.count)} (monitors off, or no RAG calls sampled)"
            )
            return _no_data(name, tolerance, c.count, s.count, note)
        tau = _tau(name, tolerance)

        def bound(alpha: float, ends: Ends) -> ConfidenceSequence:  # stable - candidate
            return mean_diff_cs(
                s.mean,
                _var(s),
                s.count,
                c.mean,
                _var(c),
                c.count,
                alpha=alpha,
                tau=tau,
                var_floor=(tau / 2) ** 2,
            )

        note = f"candidate {c.mean:.3f} vs stable {s.mean:.3f} mean {name}"
        return _judge(name, bound, levels, tolerance, note, c.count, s.count)

    return gate


def drift_gate(
    evidence: CanaryEvidence, tolerance: float | None, levels: Levels, drift: DriftTest | None
) -> GateResult:
    """The injected drift test on the kept answer embeddings (see the module's docstring)."""
    name = "response_drift"
    n_c, n_s = len(evidence.candidate.vectors), len(evidence.stable.vectors)
    if drift is None:
        return _no_data(name, tolerance, n_c, n_s, "no drift test (the monitors' statistics are off)")
    if n_c == 0 or n_s == 0:
        return _no_data(name, tolerance, n_c, n_s, f"no answer embeddings on the {_empty(n_c, n_s)}")
    cand, stable = evidence.candidate.response_vectors(), evidence.stable.response_vectors()
    if cand is None or stable is None or cand.shape[1] != stable.shape[1]:
        return _no_data(name, tolerance, n_c, n_s, "answer embeddings of different dimensions")
    alpha = levels.rollback

    def held(note: str) -> GateResult:
        return GateResult(name, "undecided", None, None, None, tolerance, n_c, n_s, 1.0 - alpha, note)

    if min(n_c, n_s) < MIN_VECTORS:
        return held(f"fewer than {MIN_VECTORS} answer embeddings per arm")
    seen = (evidence.candidate.vectors_seen, evidence.stable.vectors_seen)
    memo = evidence.drift_memo
    if memo is not None and memo[0] is drift and not _grown(memo[1:3], seen):
        statistic, p_value, threshold = memo[3]
    else:
        try:
            statistic, p_value, threshold = drift(cand, stable)
        except Exception as exc:  # the injected test is the monitors' code: its failure holds, never crashes
            return held(f"drift test failed: {type(exc).__name__}: {exc}")
        evidence.drift_memo = (drift, *seen, (statistic, p_value, threshold))
    limit = threshold if tolerance is None else tolerance
    verdict: Verdict = "undecided"
    if p_value < alpha and statistic > limit:
        verdict = "fail"
    elif statistic <= limit:
        verdict = "pass"
    note = f"statistic {statistic:.4g} (threshold {limit:.4g}), p = {p_value:.3g} (alpha {alpha:.3g})"
    return GateResult(name, verdict, statistic, None, None, limit, n_c, n_s, 1.0 - alpha, note)


def _grown(before: tuple[int, ...], now: tuple[int, int]) -> bool:
    """Enough new embeddings since the drift test last ran to run it again (a tenth more, 50 at
    least): the test is a permutation test, far dearer than the other gates, and reading it at every
    tick would only multiply its chances of a false alarm."""
    return any(n - b >= max(MIN_VECTORS, 0.1 * b) for b, n in zip(before, now, strict=True))


GATES: Mapping[str, _Gate] = MappingProxyType(
    {
        "errors": _rate_gate("errors", "calls failed or retried", "calls", lambda a: (a.errors, a.requests)),
        "latency": _slow_share_gate("latency", "latency", streamed=False),
        "ttft": _slow_share_gate("ttft", "time to first token", streamed=True),
        "cost": cost_gate,
        "refusals": _rate_gate("refusals", "answers refused", "answers", lambda a: (a.refusals, a.answers)),
        "output_length": output_length_gate,
        "finish_reasons": _rate_gate(
            "finish_reasons",
            "answers cut short or filtered",
            "answers",
            lambda a: (a.bad_finishes, a.answers),
        ),
        "groundedness": _score_gate("groundedness"),
        "context_relevance": _score_gate("context_relevance"),
        "answer_relevance": _score_gate("answer_relevance"),
    }
)
#: How many observations of each gate's signal an arm has (0 on either arm: no data).
_DATA: Mapping[str, Callable[[ArmEvidence], int]] = MappingProxyType(
    {
        "errors": lambda a: a.requests,
        "latency": lambda a: int(a.latency_ms.size),
        "ttft": lambda a: int(a.ttft_ms.size),
        "cost": lambda a: a.cost.count,
        "refusals": lambda a: a.answers,
        "output_length": lambda a: a.response_chars.count,
        "finish_reasons": lambda a: a.answers,
        "groundedness": lambda a: a.groundedness.count,
        "context_relevance": lambda a: a.context_relevance.count,
        "answer_relevance": lambda a: a.answer_relevance.count,
        "response_drift": lambda a: len(a.vectors),
    }
)


def _has_data(name: str, evidence: CanaryEvidence, drift: DriftTest | None) -> bool:
    if name == "response_drift" and drift is None:
        return False
    count = _DATA[name]
    return count(evidence.candidate) > 0 and count(evidence.stable) > 0


def evaluate_gates(
    evidence: CanaryEvidence,
    gates: Sequence[str],
    tolerances: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    drift: DriftTest | None = None,
    eval_results: Mapping[str, GateResult] | None = None,
) -> list[GateResult]:
    """One result per name in ``gates``, in that order. ``tolerances`` override
    ``DEFAULT_TOLERANCES``; ``alpha`` is split over the live gates that have data (``Levels.split``);
    ``eval:`` gates come from ``eval_results`` (else ``undecided``: the controller runs them before a
    promotion)."""
    unknown = [g for g in gates if g not in _DATA and not g.startswith(EVAL_GATE_PREFIX)]
    if unknown:
        raise ValueError(f"unknown canary gate(s): {', '.join(unknown)}")
    overrides = tolerances or {}
    live = [g for g in gates if not g.startswith(EVAL_GATE_PREFIX) and _has_data(g, evidence, drift)]
    levels = Levels.split(alpha, len(live))
    results = []
    for name in gates:
        if name.startswith(EVAL_GATE_PREFIX):
            pending = GateResult(
                name, "undecided", None, None, None, None, 0, 0, None, "runs before each promotion"
            )
            results.append((eval_results or {}).get(name) or pending)
        elif name == "response_drift":
            results.append(drift_gate(evidence, overrides.get(name), levels, drift))
        else:
            results.append(
                GATES[name](evidence, float(overrides.get(name, DEFAULT_TOLERANCES[name])), levels)
            )
    return results
