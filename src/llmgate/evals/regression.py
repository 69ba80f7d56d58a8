"""Is a run worse than its baseline? Paired, per-case statistics that flag a regression only when
the evidence holds.

A suite is run against a baseline run (``llmgate eval baseline set RUN``) and each new run is
compared with it case by case. Cases are *paired*: the same case id in both runs. Pairing is what
makes the test sensitive: most cases pass (or fail) in both runs and carry no information about a
change, so only the cases that changed are weighed, instead of comparing two pass rates as if
they came from independent samples.

Rules, the same for both methods:

- Only cases present in both runs are compared; a case with no repetitions in a run is ignored.
- A case's outcome in a run is the majority of its repetitions (``--repeat N``). A case whose
  repetitions disagree, in either run, is *flaky*: it is listed in ``Comparison.flaky`` and left
  out of the test, the pass rates and the flipped lists, because its "flip" may be noise.
- A regression needs both significance (``p_value < alpha``) and a practically relevant drop
  (``-effect >= min_effect``), so a large suite does not flag a trivially small change and a tiny
  one does not flag a large but unsupported one.

Methods:

``mcnemar`` (default): the exact two-sided McNemar test. Of the stable paired cases, ``b`` went
from pass to fail and ``c`` from fail to pass; under "no change" each of these ``n = b + c``
discordant cases is equally likely to go either way, so ``b ~ Binomial(n, 1/2)`` and
``p = min(1, 2 * P(X <= min(b, c)))``, summed in exact integer arithmetic (no scipy needed). Exact,
so valid for the few flips a suite usually has (the chi-square approximation is not). Assumes cases
are independent of one another and that pass/fail is the quantity of interest. ``effect`` is the
current minus the baseline pass rate.

``bootstrap``: a paired bootstrap of the mean score difference. Each case's score in a run is the
mean of its repetitions' scores (scores in [0, 1]); ``d_i = current_i - baseline_i``. The cases are
resampled with replacement ``resamples`` times (10,000, fixed seed: the same inputs give the same
answer) and the mean difference recomputed; the two-sided p-value is twice the smaller tail of that
distribution beyond zero, with the usual ``(k + 1) / (B + 1)`` correction so it is never exactly 0
(equivalently: the smallest alpha at which the percentile interval excludes 0). It uses graded
scores, so it sees partial degradations that do not flip a pass, but it assumes the cases are a
representative, independent sample and needs enough of them (say 20 or more) for the resampling
distribution to mean anything. ``effect`` is the mean score difference, and ``ci`` its 95%
percentile interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np

Method = Literal["mcnemar", "bootstrap"]
METHODS: tuple[str, ...] = ("mcnemar", "bootstrap")

#: The bootstrap's fixed seed and number of resamples.
BOOTSTRAP_SEED = 20_261_122
BOOTSTRAP_RESAMPLES = 10_000
#: Resamples are drawn in chunks of at most this many case indices (bounded memory for big suites).
_CHUNK_CELLS = 2_000_000
#: Rates are ratios of small integers: 0.85 - 0.8 is 0.04999..., which must still count as 0.05.
_EPS = 1e-9


@dataclass(frozen=True)
class CaseOutcome:
    """One case in one run: each repetition's pass and score (in [0, 1]), and an output to show."""

    case_id: str
    passes: list[bool]
    scores: list[float]
    output: str | None = None


@dataclass(frozen=True)
class Comparison:
    """The verdict of ``compare`` (see the module docstring for what each figure means)."""

    regression: bool
    p_value: float
    effect: float  # current - baseline: pass rate (mcnemar) or mean score (bootstrap); < 0 is worse
    method: str
    flipped_to_fail: list[str]
    flipped_to_pass: list[str]
    flaky: list[str]
    baseline_pass_rate: float
    current_pass_rate: float
    compared: int = 0  # paired, stable cases the test was computed on
    ci: tuple[float, float] | None = None  # bootstrap: 95% interval of the mean score difference


def _stable(outcome: CaseOutcome) -> bool:
    return len(set(outcome.passes)) <= 1


def _majority(passes: list[bool]) -> bool:
    return sum(passes) * 2 > len(passes)


def _mean_score(outcome: CaseOutcome) -> float:
    values = outcome.scores or [1.0 if p else 0.0 for p in outcome.passes]
    return math.fsum(values) / len(values)


def mcnemar_p_value(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for ``b`` pass→fail and ``c`` fail→pass cases."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts cannot be negative")
    n, k = b + c, min(b, c)
    if 2 * k >= n:  # the two tails overlap: p = 1 (this also covers n = 0)
        return 1.0
    # In integers, exactly: sum_{i <= k} C(n, i), then / 2^n (Fraction -> float rounds once).
    term = tail = 1
    for i in range(k):
        term = term * (n - i) // (i + 1)
        tail += term
    return min(1.0, float(Fraction(2 * tail, 2**n)))


def bootstrap_mean_diff(
    diffs: list[float], *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, tuple[float, float]]:
    """Two-sided paired-bootstrap p-value of ``mean(diffs) != 0`` and the 95% percentile interval."""
    n = len(diffs)
    if n == 0:
        return 1.0, (0.0, 0.0)
    d = np.asarray(diffs, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    step = max(1, _CHUNK_CELLS // n)
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = d[idx].mean(axis=1)
    # Exact zeros (no change at all in a resample) count in both tails: they are no evidence.
    low = int(np.count_nonzero(means <= _EPS))
    high = int(np.count_nonzero(means >= -_EPS))
    p = min(1.0, 2.0 * (min(low, high) + 1) / (resamples + 1))
    lo, hi = np.quantile(means, [0.025, 0.975])
    return p, (float(lo), float(hi))


def compare(
    baseline: dict[str, CaseOutcome],
    current: dict[str, CaseOutcome],
    *,
    alpha: float = 0.05,
    min_effect: float = 0.05,
    method: str = "mcnemar",
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Comparison:
    """Compare ``current`` with ``baseline`` (both keyed by case id) and say whether it regressed.

    ``alpha``: significance level; ``min_effect``: the smallest drop (pass rate for ``mcnemar``,
    mean score for ``bootstrap``) that counts; ``method``: ``mcnemar`` or ``bootstrap``
    (``resamples`` and ``seed`` are the bootstrap's). Raises ``ValueError`` for bad arguments.
    """
    if method not in METHODS:
        raise ValueError(f"unknown comparison method {method!r} (use {' or '.join(METHODS)})")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if min_effect < 0.0:
        raise ValueError(f"min_effect cannot be negative, got {min_effect}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")

    flaky: list[str] = []
    pairs: list[tuple[str, CaseOutcome, CaseOutcome]] = []
    for case_id in sorted(baseline.keys() & current.keys()):
        before, after = baseline[case_id], current[case_id]
        if not before.passes or not after.passes:
            continue
        if _stable(before) and _stable(after):
            pairs.append((case_id, before, after))
        else:
            flaky.append(case_id)

    to_fail = [cid for cid, b, a in pairs if _majority(b.passes) and not _majority(a.passes)]
    to_pass = [cid for cid, b, a in pairs if not _majority(b.passes) and _majority(a.passes)]
    n = len(pairs)
    base_rate = sum(_majority(b.passes) for _, b, _ in pairs) / n if n else 0.0
    cur_rate = sum(_majority(a.passes) for _, _, a in pairs) / n if n else 0.0

    ci: tuple[float, float] | None = None
    if method == "mcnemar":
        p_value = mcnemar_p_value(len(to_fail), len(to_pass))
        effect = cur_rate - base_rate
    else:
        diffs = [_mean_score(a) - _mean_score(b) for _, b, a in pairs]
        effect = math.fsum(diffs) / n if n else 0.0
        p_value, ci = bootstrap_mean_diff(diffs, resamples=resamples, seed=seed)

    regression = n > 0 and p_value < alpha and effect < 0 and -effect >= min_effect - _EPS
    return Comparison(
        regression=regression,
        p_value=p_value,
        effect=effect,
        method=method,
        flipped_to_fail=to_fail,
        flipped_to_pass=to_pass,
        flaky=flaky,
        baseline_pass_rate=base_rate,
        current_pass_rate=cur_rate,
        compared=n,
        ci=ci,
    )
