"""Output drift: have the answers' lengths, refusals, finish reasons, tool calls, errors, latency
or token counts changed between a reference window and the current one?

``output_drift(reference, current)`` takes one ``OutputSample`` per recorded call (the worker
builds them from the store) and returns one ``Statistic`` per feature, with a two-sample test
and an effect size. A statistic is *drifted* when the change is both **significant**
(``p < p_value``, 0.001 by default: eight tests per window, run every few minutes on every
model, so a false alarm must be rare) and **material** (the effect reaches its minimum, so a
window of 50,000 calls does not alarm on a 1% change that the test can see but nobody cares
about). A statistic is left out when either window has no data for it.

- ``refusal_rate``, ``tool_call_rate`` (both among calls that did not fail) and ``error_rate``
  (among all calls): ``value`` is the current minus the reference rate; ``p`` is Fisher's
  exact test (two-sided, valid for the handful of events small windows have); the minimum
  effect is an absolute change of ``min_effect`` (0.05: five calls in a hundred).
- ``finish_reasons``: ``value`` is the total variation distance between the two mixes of
  finish reasons (half the sum of absolute share differences: the share of calls that would
  have to change reason), ``p`` the chi-square test of the reasons-by-window table, reasons
  seen fewer than 5 times in both windows together pooled as "other" so that the chi-square
  approximation holds. Minimum effect ``min_effect``.
- ``response_length`` (characters), ``latency_ms``, ``prompt_tokens``, ``completion_tokens``:
  ``value`` is the two-sample Kolmogorov-Smirnov statistic D (the largest gap between the two
  cumulative distributions: it sees a shift of the median and a new tail alike), ``p`` the
  KS test. Minimum effect ``min_ks`` (0.1, what a 25% change of the median gives for the
  spread of typical answer lengths or latencies). The medians and their relative change are
  in ``details``. Latency must also move by ``min_latency_ms`` (100 ms) at the median or the
  90th percentile: a few milliseconds of gateway-side jitter is significant to KS and to no one.

Each minimum can be set per statistic (``OutputThresholds.error_rate = 0.01``, ...).
``feedback_rate`` and ``feedback_score`` are output statistics too, computed only when set
(``feedback_drift.py``, which reuses ``rate_change`` and ``decide`` from here).
Calibration: synthetic windows (``tests/monitors/test_output_drift.py``) with no change
never flag, and a 2% → 20% refusal rate, answers twice as long or a finish-reason mix moving
from "stop" to "length" on 300 calls each do; a 1% change on 5000 calls does not.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from llmgate.monitors.drift import Statistic

__all__ = ["OutputSample", "OutputThresholds", "decide", "finite", "output_drift", "rate_change"]

#: Finish reasons seen fewer times than this (both windows together) are pooled as "other".
MIN_REASON_COUNT = 5
_RATES = ("refusal_rate", "tool_call_rate", "error_rate", "finish_reasons")
_DISTRIBUTIONS = ("response_length", "latency_ms", "prompt_tokens", "completion_tokens")


@dataclass(frozen=True)
class OutputSample:
    """The output features of one recorded call (``None``: not known for this call)."""

    response_chars: int | None
    refused: bool
    finish_reason: str | None
    tool_call: bool
    error: bool
    latency_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True)
class OutputThresholds:
    """Significance and minimum effects for ``output_drift``; per-statistic fields override."""

    #: Significance of every test.
    p_value: float = 0.001
    #: Minimum absolute change of a rate, and total variation distance of the finish reasons.
    min_effect: float = 0.05
    #: Minimum Kolmogorov-Smirnov D of lengths, latency and token counts.
    min_ks: float = 0.1
    #: Latency must also move by this many milliseconds (median or 90th percentile): a gateway
    #: call taking 4 ms instead of 3 is a significant KS shift that no operator cares about.
    min_latency_ms: float = 100.0
    response_length: float | None = None
    refusal_rate: float | None = None
    finish_reasons: float | None = None
    tool_call_rate: float | None = None
    error_rate: float | None = None
    latency_ms: float | None = None
    prompt_tokens: float | None = None
    completion_tokens: float | None = None
    #: Off unless set: the minimum change of the share of requests that got feedback, and of a
    #: score's mean (in the score's own units: not bounded by 1) (``feedback_drift.py``).
    feedback_rate: float | None = None
    feedback_score: float | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None and item.name not in ("p_value", "min_effect", "min_ks"):
                continue
            if item.name in ("min_latency_ms", "feedback_score"):
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                    raise ValueError(f"output threshold {item.name} must be a number >= 0, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"output threshold {item.name} must be a number in [0, 1], got {value!r}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> OutputThresholds:
        """Thresholds from a (possibly partial) mapping; missing keys keep their defaults."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(mapping or {}) - known)
        if unknown:
            raise ValueError(f"unknown output threshold(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(mapping or {}))

    def minimum(self, name: str) -> float:
        """The minimum effect of the statistic called ``name``."""
        own = getattr(self, name)
        if own is not None:
            return float(own)
        return self.min_ks if name in _DISTRIBUTIONS else self.min_effect


def output_drift(
    reference: Sequence[OutputSample],
    current: Sequence[OutputSample],
    thresholds: OutputThresholds | None = None,
) -> tuple[Statistic, ...]:
    """Compare the outputs of two windows; see the module doc. Pure, deterministic."""
    limits = thresholds or OutputThresholds()
    ref_ok = [s for s in reference if not s.error]
    cur_ok = [s for s in current if not s.error]
    found = [
        _distribution("response_length", reference, current, lambda s: s.response_chars, limits),
        _rate("refusal_rate", ref_ok, cur_ok, lambda s: s.refused, limits),
        _finish_reasons(reference, current, limits),
        _rate("tool_call_rate", ref_ok, cur_ok, lambda s: s.tool_call, limits),
        _rate("error_rate", reference, current, lambda s: s.error, limits),
        _distribution("latency_ms", reference, current, lambda s: s.latency_ms, limits),
        _distribution("prompt_tokens", reference, current, lambda s: s.prompt_tokens, limits),
        _distribution("completion_tokens", reference, current, lambda s: s.completion_tokens, limits),
    ]
    return tuple(statistic for statistic in found if statistic is not None)


def decide(
    name: str,
    value: float,
    effect: float,
    p: float,
    limits: OutputThresholds,
    details: dict[str, Any],
    *,
    threshold: str | None = None,
) -> Statistic:
    """The statistic ``name``: drifted when ``p < p_value`` and ``effect`` reaches the minimum of
    ``threshold`` (default: the threshold named like the statistic)."""
    minimum = limits.minimum(threshold or name)
    drifted = p < limits.p_value and effect >= minimum
    details = details | {"significance": limits.p_value}
    return Statistic(name, value, minimum, drifted, p, details)


def _rate(
    name: str,
    reference: Sequence[OutputSample],
    current: Sequence[OutputSample],
    flag: Callable[[OutputSample], bool],
    limits: OutputThresholds,
) -> Statistic | None:
    if not reference or not current:
        return None
    ref_hits = sum(1 for s in reference if flag(s))
    cur_hits = sum(1 for s in current if flag(s))
    return rate_change(name, (ref_hits, len(reference)), (cur_hits, len(current)), limits)


def rate_change(
    name: str, reference: tuple[int, int], current: tuple[int, int], limits: OutputThresholds
) -> Statistic:
    """A rate's change from ``reference`` to ``current`` (each ``(hits, n)``, ``n > 0``): the
    difference of the rates, Fisher's exact test (two-sided) and the minimum absolute change."""
    # scipy (the monitors extra, optional and heavy): only when a rate is computed
    from scipy.stats import fisher_exact

    (ref_hits, ref_n), (cur_hits, cur_n) = reference, current
    ref_rate, cur_rate = ref_hits / ref_n, cur_hits / cur_n
    table = [[ref_hits, ref_n - ref_hits], [cur_hits, cur_n - cur_hits]]
    p = 1.0 if ref_hits + cur_hits in (0, ref_n + cur_n) else finite(fisher_exact(table)[1])
    details = {"reference_rate": ref_rate, "current_rate": cur_rate, "reference_n": ref_n, "current_n": cur_n}
    return decide(name, cur_rate - ref_rate, abs(cur_rate - ref_rate), p, limits, details)


def _finish_reasons(
    reference: Sequence[OutputSample], current: Sequence[OutputSample], limits: OutputThresholds
) -> Statistic | None:
    ref = Counter(s.finish_reason for s in reference if s.finish_reason is not None)
    cur = Counter(s.finish_reason for s in current if s.finish_reason is not None)
    n_ref, n_cur = sum(ref.values()), sum(cur.values())
    if not n_ref or not n_cur:
        return None
    reasons = sorted(set(ref) | set(cur))
    ref_share = {r: ref[r] / n_ref for r in reasons}
    cur_share = {r: cur[r] / n_cur for r in reasons}
    distance = 0.5 * sum(abs(cur_share[r] - ref_share[r]) for r in reasons)

    pooled: dict[str, list[int]] = {}
    for reason in reasons:
        key = reason if ref[reason] + cur[reason] >= MIN_REASON_COUNT else "other"
        counts = pooled.setdefault(key, [0, 0])
        counts[0] += ref[reason]
        counts[1] += cur[reason]
    if len(pooled) < 2:
        p = 1.0
    else:
        # scipy (the monitors extra, optional and heavy): only when this statistic is computed
        from scipy.stats import chi2_contingency

        p = finite(chi2_contingency(list(pooled.values()), correction=False)[1])
    details = {
        "reference_shares": ref_share,
        "current_shares": cur_share,
        "reference_n": n_ref,
        "current_n": n_cur,
    }
    return decide("finish_reasons", distance, distance, p, limits, details)


def _distribution(
    name: str,
    reference: Sequence[OutputSample],
    current: Sequence[OutputSample],
    value_of: Callable[[OutputSample], float | int | None],
    limits: OutputThresholds,
) -> Statistic | None:
    ref = [float(v) for v in map(value_of, reference) if v is not None and math.isfinite(v)]
    cur = [float(v) for v in map(value_of, current) if v is not None and math.isfinite(v)]
    if not ref or not cur:
        return None
    # scipy (the monitors extra, optional and heavy): only when this statistic is computed
    from scipy.stats import ks_2samp

    result = ks_2samp(ref, cur)
    d, p = float(result.statistic), finite(result.pvalue)
    ref_median, cur_median = _median(ref), _median(cur)
    change = (cur_median - ref_median) / abs(ref_median) if ref_median else None
    details: dict[str, Any] = {
        "reference_median": ref_median,
        "current_median": cur_median,
        "median_change": change,
        "reference_n": len(ref),
        "current_n": len(cur),
    }
    statistic = decide(name, d, d, p, limits, details)
    if name == "latency_ms" and statistic.drifted:
        moved = max(abs(cur_median - ref_median), abs(_quantile(cur, 0.9) - _quantile(ref, 0.9)))
        if moved < limits.min_latency_ms:
            statistic = Statistic(
                name, d, statistic.threshold, False, p, statistic.details | {"below_min_latency_ms": moved}
            )
    return statistic


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def finite(p: Any) -> float:
    """``p`` as a float; a NaN or infinite p-value (a degenerate test) counts as 1."""
    value = float(p)
    return value if math.isfinite(value) else 1.0
