"""Always-valid confidence sequences: bounds on an effect that hold at every sample size at once.

A canary's controller looks at its evidence every second and acts on the first look that is
conclusive. A fixed-sample confidence interval read that way is wrong far more often than its
level says (each look is another chance of a false alarm); a *confidence sequence* is not: with
probability at least ``1 - alpha`` the true effect lies inside the bound at every look, however
many looks are taken and whenever one stops.

The boundary: the normal mixture (Robbins 1970; the mixture SPRT of Johari, Koomen, Pekelis and
Walsh, "Always valid inference", 2017/2022). Let ``effect`` be an estimate (a difference of two
means, of two proportions, a proportion, a ratio minus one) whose variance is ``v`` (it shrinks
as data comes in: ``v = var_x / n_x + var_y / n_y`` for a difference). Mixing the likelihood ratio of
a true effect ``theta`` over ``theta ~ N(0, tau^2)`` gives a nonnegative martingale under the truth;
Ville's inequality turns "it never exceeds ``1 / alpha``" into the sequence

    effect ± r(v),   r(v) = sqrt( v (v + tau^2) / tau^2 * ( 2 ln(1 / alpha) + ln((v + tau^2) / v) ) )

(for ``v = V / n`` this is Johari et al.'s mSPRT boundary for ``n`` pairs of variance ``V``). Variances
are estimated as the data comes in (plug-in), which makes the guarantee asymptotic (Waudby-Smith,
Arbour, Sinha, Kennedy and Ramdas, "Time-uniform central limit theory and asymptotic confidence
sequences", 2021): the callers ask for 30 observations per arm before a verdict, and floor the
variance (``var_floor`` for means) so that a run of identical values cannot shrink the bound to a point.

Rates are where a plug-in variance fails: five errors in 500 calls "estimate" a variance that makes
2.5% look impossible, and a run of calls without an error has no variance at all. So a proportion's
bound is of the score (Wilson) kind: each end is where the distance to the estimate equals ``r`` of
the variance *at that end*, i.e. ``high = p + d`` with ``d = r(V(p + d) / n)`` (and the other arm moved
the other way for a difference), ``V`` the largest ``q (1 - q)`` between the estimate and that end, and
never below the share with one pseudo-success and one pseudo-failure added (Agresti-Caffo), so an arm
with no event yet still has a width. The bound is asymmetric: wider towards 0.5.

The mixing scale ``tau``: ``r(v)`` is smallest, for the sample sizes where a decision is near, when
``tau`` is of the order of the distance the bound has to resolve. A canary's decisions are about
its tolerance (non-inferiority: is the effect surely below it? a rollback: surely above it?), so the
gates take ``tau`` = the gate's tolerance (its allowed share, for the latency gates whose tolerance
is 0). A gross regression (40% of calls failing against a 2-point tolerance) is still seen within
about a hundred candidate calls: ``r`` then grows only like ``sqrt(v * v / tau^2)``.

The bound is two-sided at level ``alpha``: the chance that the true effect ever leaves it, on either
side, is at most ``alpha``. A gate reads one end only for each decision (the lower end for a
rollback, the upper for a promotion), and one end alone can be tighter: mixing over ``theta >= 0``
only (a half-normal) gives the martingale ``2 Phi(z) M`` with ``z = tau S / sqrt(1 + tau^2 I)``, and at
the two-sided boundary of level ``a`` we have ``z >= sqrt(2 ln(1 / a))``; so the two-sided bound at
``one_sided(alpha) = 2 alpha Phi(sqrt(2 ln(1 / (2 alpha))))`` (0.098 for 0.05, 0.00999 for 0.005) has
each end valid at ``alpha`` on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ConfidenceSequence",
    "Ends",
    "mean_diff_cs",
    "mixture_radius",
    "normal_mixture_cs",
    "one_sided",
    "proportion_cs",
    "proportion_diff_cs",
    "ratio_cs",
]

_NO_BOUND = (-math.inf, math.inf)
#: Which ends of a rate's bound to compute (each costs a short iteration).
Ends = Literal["both", "low", "high"]


@dataclass(frozen=True, slots=True)
class ConfidenceSequence:
    """An effect and its always-valid bound ``[low, high]`` at level ``alpha``, on ``n_x`` (and
    ``n_y``) observations; ``radius`` is the wider half-width before clipping to the possible range."""

    effect: float
    low: float
    high: float
    n_x: int
    n_y: int
    radius: float
    alpha: float

    def covers(self, value: float) -> bool:
        """Is ``value`` inside the bound?"""
        return self.low <= value <= self.high


def mixture_radius(variance: float, tau: float, alpha: float) -> float:
    """The normal-mixture half-width for an estimate of variance ``variance`` (see the module's
    docstring); infinite when there is no information yet, 0 when the variance is 0."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not tau > 0.0:
        raise ValueError(f"tau must be > 0, got {tau!r}")
    if math.isnan(variance) or math.isinf(variance):
        return math.inf
    if variance <= 0.0:
        return 0.0
    t2 = tau * tau
    spread = (variance + t2) / variance
    return math.sqrt(variance * (variance + t2) / t2 * (2.0 * math.log(1.0 / alpha) + math.log(spread)))


def one_sided(alpha: float) -> float:
    """The two-sided level at which each end of the bound holds at ``alpha`` on its own (see the
    module's docstring); about ``2 alpha``."""
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"a one-sided alpha must be in (0, 0.5), got {alpha!r}")
    z = math.sqrt(2.0 * math.log(1.0 / (2.0 * alpha)))
    return alpha * (1.0 + math.erf(z / math.sqrt(2.0)))


def _unbounded(alpha: float, n_x: int, n_y: int) -> ConfidenceSequence:
    return ConfidenceSequence(math.nan, -math.inf, math.inf, max(n_x, 0), max(n_y, 0), math.inf, alpha)


def normal_mixture_cs(
    effect: float,
    variance: float,
    *,
    alpha: float,
    tau: float,
    n_x: int,
    n_y: int = 0,
    bounds: tuple[float, float] = _NO_BOUND,
) -> ConfidenceSequence:
    """``effect ± mixture_radius(variance)``, clipped to ``bounds`` (the effect's possible range)."""
    radius = mixture_radius(variance, tau, alpha)
    low = max(effect - radius, bounds[0])
    high = min(effect + radius, bounds[1])
    return ConfidenceSequence(effect, low, high, n_x, n_y, radius, alpha)


def mean_diff_cs(
    mean_x: float,
    var_x: float,
    n_x: int,
    mean_y: float,
    var_y: float,
    n_y: int,
    *,
    alpha: float,
    tau: float,
    var_floor: float = 0.0,
) -> ConfidenceSequence:
    """``mean_x - mean_y`` for two independent samples with estimated variances (each floored at
    ``var_floor``, per observation). No bound (infinite) while either sample is empty."""
    if n_x <= 0 or n_y <= 0:
        return _unbounded(alpha, n_x, n_y)
    variance = max(var_x, var_floor) / n_x + max(var_y, var_floor) / n_y
    return normal_mixture_cs(mean_x - mean_y, variance, alpha=alpha, tau=tau, n_x=n_x, n_y=n_y)


def _widest(low: float, high: float) -> float:
    """The largest ``q (1 - q)`` for ``q`` in ``[low, high]`` (clipped to [0, 1])."""
    if high < 0.5:
        return high * (1.0 - high) if high > 0.0 else 0.0
    if low > 0.5:
        return low * (1.0 - low) if low < 1.0 else 0.0
    return 0.25


def _score_shift(
    up: tuple[int, int], down: tuple[int, int] | None, alpha: float, tau: float, pseudo: float
) -> float:
    """How far above its estimate the score bound of ``p_up - p_down`` lies: the ``d`` with
    ``d = f(d) = r(V_up / n_up + V_down / n_down)``, ``V_up`` the widest variance as the ``up`` share
    rises by ``d`` and ``V_down`` as the ``down`` share falls by ``d`` (each at least its pseudo-count
    share's). ``f`` only grows with ``d``, so iterating ``f`` from ``f(0)`` climbs to the root; Aitken's
    extrapolation takes it there in a few steps. Climbing, it converges at least geometrically with
    ratio 1/2 (``f'(d) <= r / 2q``), so the last iterate plus its last step is at or above the root;
    coming down from an extrapolation past it, every iterate is."""
    x_up, n_up = up
    share_up = x_up / n_up
    shrunk_up = (x_up + pseudo) / (n_up + 2.0 * pseudo)
    low_up, high_up = min(share_up, shrunk_up), max(share_up, shrunk_up)
    if down is None:
        share_down, low_down, high_down, n_down = 0.0, 0.0, 0.0, 0
    else:
        x_down, n_down = down
        share_down = x_down / n_down
        shrunk_down = (x_down + pseudo) / (n_down + 2.0 * pseudo)
        low_down, high_down = min(share_down, shrunk_down), max(share_down, shrunk_down)
    t2, level = tau * tau, 2.0 * math.log(1.0 / alpha)

    def f(shift: float) -> float:  # mixture_radius, inlined: the variance is > 0 (the pseudo-counts)
        variance = _widest(low_up, max(high_up, share_up + shift)) / n_up
        if n_down:
            variance += _widest(min(low_down, share_down - shift), high_down) / n_down
        return math.sqrt(variance * (variance + t2) / t2 * (level + math.log((variance + t2) / variance)))

    mixture_radius(1.0, tau, alpha)  # checks alpha and tau
    shift = f(0.0)
    for _ in range(30):
        once = f(shift)
        twice = f(once)
        step = twice - once
        if abs(step) <= 1e-3 * twice:  # climbing: add the last step; coming down (after Aitken): above
            return min(twice + max(step, 0.0), 1.0 + share_down)
        bend = twice - 2.0 * once + shift
        shift = twice - step * step / bend if bend < 0.0 else twice
    return 1.0 + share_down  # not reached in practice: the widest possible shift


def proportion_diff_cs(
    x_x: int,
    n_x: int,
    x_y: int,
    n_y: int,
    *,
    alpha: float,
    tau: float,
    pseudo: float = 1.0,
    ends: Ends = "both",
) -> ConfidenceSequence:
    """``x_x / n_x - x_y / n_y`` for two independent binomial samples, bounded to [-1, 1], with
    score-type ends (see the module's docstring); ``ends="low"`` or ``"high"`` computes that end
    only (the other is left at the possible range's)."""
    if n_x <= 0 or n_y <= 0:
        return _unbounded(alpha, n_x, n_y)
    effect = x_x / n_x - x_y / n_y
    above = _score_shift((x_x, n_x), (x_y, n_y), alpha, tau, pseudo) if ends != "low" else math.inf
    below = _score_shift((x_y, n_y), (x_x, n_x), alpha, tau, pseudo) if ends != "high" else math.inf
    radius = {"both": max(above, below), "low": below, "high": above}[ends]
    return ConfidenceSequence(
        effect, max(effect - below, -1.0), min(effect + above, 1.0), n_x, n_y, radius, alpha
    )


def proportion_cs(
    x: int, n: int, *, alpha: float, tau: float, pseudo: float = 1.0, ends: Ends = "both"
) -> ConfidenceSequence:
    """The share ``x / n`` of one binomial sample, bounded to [0, 1], with score-type ends (``ends``
    as for ``proportion_diff_cs``)."""
    if n <= 0:
        return ConfidenceSequence(math.nan, 0.0, 1.0, 0, 0, math.inf, alpha)
    above = _score_shift((x, n), None, alpha, tau, pseudo) if ends != "low" else math.inf
    below = _score_shift((n - x, n), None, alpha, tau, pseudo) if ends != "high" else math.inf
    radius = {"both": max(above, below), "low": below, "high": above}[ends]
    return ConfidenceSequence(x / n, max(x / n - below, 0.0), min(x / n + above, 1.0), n, 0, radius, alpha)


def ratio_cs(
    mean_x: float,
    var_x: float,
    n_x: int,
    mean_y: float,
    var_y: float,
    n_y: int,
    *,
    alpha: float,
    tau: float,
    cv_floor: float = 0.0,
) -> ConfidenceSequence:
    """``mean_x / mean_y - 1`` (a relative change) for two independent samples of nonnegative values,
    by the delta method: ``var ≈ (var_x / n_x + r^2 var_y / n_y) / mean_y^2`` with each variance floored
    at ``(cv_floor * mean_y)^2``. No bound while either sample is empty or ``mean_y`` is not positive."""
    if n_x <= 0 or n_y <= 0 or not mean_y > 0.0:
        return _unbounded(alpha, n_x, n_y)
    ratio = mean_x / mean_y
    floor = (cv_floor * mean_y) ** 2
    variance = (max(var_x, floor) / n_x + ratio * ratio * max(var_y, floor) / n_y) / (mean_y * mean_y)
    return normal_mixture_cs(
        ratio - 1.0, variance, alpha=alpha, tau=tau, n_x=n_x, n_y=n_y, bounds=(-1.0, math.inf)
    )
