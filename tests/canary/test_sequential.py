"""The confidence sequences of ``llmgate.canary.sequential``: the boundary is the mSPRT's, and the
bounds cover the truth at every look at once (the property a once-a-second controller needs), where
a fixed-sample interval read at every look does not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmgate.canary.sequential import (
    mean_diff_cs,
    mixture_radius,
    one_sided,
    proportion_cs,
    proportion_diff_cs,
    ratio_cs,
)

LOOKS = np.unique(np.geomspace(30, 3000, 40).astype(int))


def test_the_radius_is_where_the_msprt_statistic_reaches_one_over_alpha() -> None:
    # Johari et al.: Lambda_n = sqrt(V / (V + n tau^2)) exp(n^2 tau^2 d^2 / (2 V (V + n tau^2)))
    variance, tau, alpha = 2.0, 0.3, 0.01
    for n in (10, 100, 1000, 10_000):
        d = mixture_radius(variance / n, tau, alpha)
        v_n = variance + n * tau * tau
        msprt = math.sqrt(variance / v_n) * math.exp(n * n * tau * tau * d * d / (2 * variance * v_n))
        assert msprt == pytest.approx(1 / alpha, rel=1e-9)


def test_the_radius_shrinks_with_evidence_and_widens_with_confidence() -> None:
    radii = [mixture_radius(1.0 / n, 0.05, 0.05) for n in (10, 100, 1000, 10_000)]
    assert radii == sorted(radii, reverse=True)
    assert mixture_radius(1e-4, 0.05, 0.005) > mixture_radius(1e-4, 0.05, 0.05)
    assert mixture_radius(math.inf, 0.05, 0.05) == math.inf
    assert mixture_radius(0.0, 0.05, 0.05) == 0.0
    with pytest.raises(ValueError, match="alpha"):
        mixture_radius(1.0, 0.05, 0.0)
    with pytest.raises(ValueError, match="tau"):
        mixture_radius(1.0, 0.0, 0.05)


def test_each_end_alone_holds_at_alpha_when_read_at_the_one_sided_level() -> None:
    assert one_sided(0.05) == pytest.approx(0.0984, abs=1e-4)
    assert one_sided(0.005) == pytest.approx(0.00999, abs=1e-5)
    with pytest.raises(ValueError, match="one-sided"):
        one_sided(0.5)
    rng = np.random.default_rng(5)
    runs, alpha = 4000, 0.05
    sums = rng.normal(0.0, 1.0, size=(runs, LOOKS[-1])).cumsum(1)
    above = np.zeros(runs, dtype=bool)
    below = np.zeros(runs, dtype=bool)
    for n in LOOKS:
        radius = mixture_radius(1.0 / n, 0.2, one_sided(alpha))
        above |= sums[:, n - 1] / n - radius > 0.0
        below |= sums[:, n - 1] / n + radius < 0.0
    assert above.mean() <= alpha and below.mean() <= alpha
    # both ends together may miss up to 2 alpha: the two-sided bound is for that
    assert (above | below).mean() <= 2 * alpha


def _missed(low: np.ndarray, high: np.ndarray, truth: float) -> float:
    """The share of runs whose bound missed the truth at one look or more."""
    return float(((low > truth) | (high < truth)).any(axis=1).mean())


def test_a_mean_difference_is_covered_at_every_look() -> None:
    rng = np.random.default_rng(1)
    runs, alpha, truth = 1000, 0.05, 0.3
    x = rng.normal(1.3, 2.0, size=(runs, LOOKS[-1]))
    y = rng.normal(1.0, 1.0, size=(runs, LOOKS[-1]))
    low, high, naive_low, naive_high = (np.empty((runs, LOOKS.size)) for _ in range(4))
    for j, n in enumerate(LOOKS):
        mx, vx = x[:, :n].mean(1), x[:, :n].var(1, ddof=1)
        my, vy = y[:, :n].mean(1), y[:, :n].var(1, ddof=1)
        for i in range(runs):
            cs = mean_diff_cs(mx[i], vx[i], n, my[i], vy[i], n, alpha=alpha, tau=0.3)
            low[i, j], high[i, j] = cs.low, cs.high
        half = 1.96 * np.sqrt(vx / n + vy / n)
        naive_low[:, j], naive_high[:, j] = mx - my - half, mx - my + half
    assert _missed(low, high, truth) <= alpha
    # the fixed-sample 95% interval, read at all 40 looks, misses far more often than 5%
    assert _missed(naive_low, naive_high, truth) > 3 * alpha


@pytest.mark.parametrize(("p_x", "p_y"), [(0.01, 0.01), (0.06, 0.01), (0.4, 0.02)])
def test_a_difference_of_rare_or_common_rates_is_covered_at_every_look(p_x: float, p_y: float) -> None:
    rng = np.random.default_rng(2)
    runs, alpha = 1000, 0.05
    # the candidate at 10% of the traffic: nine stable calls per candidate call
    cx = (rng.random((runs, LOOKS[-1])) < p_x).cumsum(1)
    cy = rng.binomial(9, p_y, size=(runs, LOOKS[-1])).cumsum(1)
    missed = np.zeros(runs, dtype=bool)
    for n in LOOKS:
        for i in range(runs):
            cs = proportion_diff_cs(
                int(cx[i, n - 1]), int(n), int(cy[i, n - 1]), 9 * int(n), alpha=alpha, tau=0.02
            )
            missed[i] |= not cs.covers(p_x - p_y)
    assert missed.mean() <= alpha


def test_an_arm_without_events_does_not_collapse_the_bound() -> None:
    cs = proportion_diff_cs(0, 30, 0, 270, alpha=0.005, tau=0.02)
    assert cs.effect == 0.0
    assert cs.high > 0.02  # 30 calls without an error do not show non-inferiority within 2 points
    one = proportion_diff_cs(1, 30, 0, 270, alpha=0.005, tau=0.02)
    assert one.low < 0.02  # nor does one error in 30 show a regression


def test_a_single_rate_is_covered_and_bounded_to_zero_one() -> None:
    rng = np.random.default_rng(3)
    runs, alpha, p = 1000, 0.05, 0.03
    counts = (rng.random((runs, LOOKS[-1])) < p).cumsum(1)
    missed = np.zeros(runs, dtype=bool)
    for n in LOOKS:
        for i in range(runs):
            cs = proportion_cs(int(counts[i, n - 1]), int(n), alpha=alpha, tau=0.05)
            assert 0.0 <= cs.low <= cs.high <= 1.0
            missed[i] |= not cs.covers(p)
    assert missed.mean() <= alpha


def test_a_ratio_of_skewed_means_is_covered_at_every_look() -> None:
    rng = np.random.default_rng(4)
    runs, alpha = 1000, 0.05
    x = 1.1 * rng.lognormal(0.0, 0.8, size=(runs, LOOKS[-1]))
    y = rng.lognormal(0.0, 0.8, size=(runs, LOOKS[-1]))
    missed = np.zeros(runs, dtype=bool)
    for n in LOOKS:
        mx, vx, my, vy = x[:, :n].mean(1), x[:, :n].var(1, ddof=1), y[:, :n].mean(1), y[:, :n].var(1, ddof=1)
        for i in range(runs):
            cs = ratio_cs(mx[i], vx[i], n, my[i], vy[i], n, alpha=alpha, tau=0.1)
            missed[i] |= not cs.covers(0.1)
    assert missed.mean() <= alpha


def test_no_bound_without_data_and_a_floor_under_identical_values() -> None:
    empty = mean_diff_cs(0.5, 0.0, 0, 0.5, 0.0, 10, alpha=0.05, tau=0.05)
    assert empty.low == -math.inf and empty.high == math.inf
    assert ratio_cs(1.0, 0.1, 10, 0.0, 0.0, 10, alpha=0.05, tau=0.1).high == math.inf
    assert (
        proportion_cs(0, 0, alpha=0.05, tau=0.05).low,
        proportion_cs(0, 0, alpha=0.05, tau=0.05).high,
    ) == (0, 1)
    # 40 identical scores per arm: without a floor the bound would be a point
    floored = mean_diff_cs(1.0, 0.0, 40, 1.0, 0.0, 40, alpha=0.005, tau=0.05, var_floor=0.025**2)
    assert floored.radius > 0.0


def test_a_rate_bound_is_wider_towards_one_half() -> None:
    # five errors in 500 calls: 2.5% is not excluded, though a plug-in variance would exclude it
    cs = proportion_cs(5, 500, alpha=0.05, tau=0.02)
    assert cs.high - cs.effect > cs.effect - cs.low
    assert cs.covers(0.025)
    diff = proportion_diff_cs(5, 500, 45, 4500, alpha=0.05, tau=0.02)
    assert diff.high - diff.effect > diff.effect - diff.low
    # a larger alpha gives a narrower bound, on both sides
    loose = proportion_diff_cs(5, 500, 45, 4500, alpha=0.2, tau=0.02)
    assert diff.low < loose.low <= loose.high < diff.high
    # one end alone is the same end, the other left open
    low_only = proportion_diff_cs(5, 500, 45, 4500, alpha=0.05, tau=0.02, ends="low")
    high_only = proportion_cs(5, 500, alpha=0.05, tau=0.02, ends="high")
    assert (low_only.low, low_only.high) == (diff.low, 1.0)
    assert (high_only.low, high_only.high) == (0.0, cs.high)
