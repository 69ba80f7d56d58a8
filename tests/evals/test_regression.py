"""Regression statistics: exact McNemar p-values computed by hand, effect sizes, flaky cases, and a
deterministic paired bootstrap."""

from __future__ import annotations

import pytest

from llmgate.evals.regression import CaseOutcome, compare, mcnemar_p_value


def outcomes(
    spec: dict[str, list[bool]], scores: dict[str, list[float]] | None = None
) -> dict[str, CaseOutcome]:
    scores = scores or {}
    return {
        cid: CaseOutcome(cid, passes, scores.get(cid, [1.0 if p else 0.0 for p in passes]), f"answer {cid}")
        for cid, passes in spec.items()
    }


def runs(
    both_pass: int, both_fail: int, to_fail: int, to_pass: int
) -> tuple[dict[str, CaseOutcome], dict[str, CaseOutcome]]:
    """A baseline and a current run with these counts of (stable) paired cases."""
    base: dict[str, list[bool]] = {}
    cur: dict[str, list[bool]] = {}
    i = 0
    for count, before, after in (
        (both_pass, True, True),
        (both_fail, False, False),
        (to_fail, True, False),
        (to_pass, False, True),
    ):
        for _ in range(count):
            base[f"c{i:03d}"], cur[f"c{i:03d}"] = [before], [after]
            i += 1
    return outcomes(base), outcomes(cur)


# Exact two-sided McNemar: p = min(1, 2 * sum_{i <= min(b, c)} C(b + c, i) / 2^(b + c)).
#   b=6, c=0:  2 * 1/64                       = 1/32    = 0.03125
#   b=8, c=0:  2 * 1/256                      = 1/128   = 0.0078125
#   b=5, c=1:  2 * (1 + 6)/64                 = 7/32    = 0.21875
#   b=10, c=2: 2 * (1 + 12 + 66)/4096         = 79/2048 = 0.03857421875
#   b=7, c=3:  2 * (1 + 10 + 45 + 120)/1024   = 11/32   = 0.34375
#   b=1, c=0:  2 * 1/2                        = 1
@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (6, 0, 0.03125),
        (8, 0, 0.0078125),
        (5, 1, 0.21875),
        (10, 2, 0.03857421875),
        (7, 3, 0.34375),
        (1, 0, 1.0),
        (0, 0, 1.0),
        (0, 6, 0.03125),
    ],
)
def test_exact_mcnemar_p_values(b: int, c: int, expected: float) -> None:
    assert mcnemar_p_value(b, c) == pytest.approx(expected, abs=1e-12)


def test_six_cases_flipping_to_fail_is_a_regression() -> None:
    base, cur = runs(both_pass=14, both_fail=0, to_fail=6, to_pass=0)
    result = compare(base, cur)
    assert result.regression
    assert result.method == "mcnemar"
    assert result.p_value == pytest.approx(0.03125)
    assert result.baseline_pass_rate == pytest.approx(1.0)
    assert result.current_pass_rate == pytest.approx(0.7)
    assert result.effect == pytest.approx(-0.3)
    assert result.flipped_to_fail == ["c014", "c015", "c016", "c017", "c018", "c019"]
    assert result.flipped_to_pass == []
    assert result.flaky == []
    assert result.compared == 20


def test_balanced_changes_are_no_regression() -> None:
    base, cur = runs(both_pass=10, both_fail=2, to_fail=4, to_pass=4)
    result = compare(base, cur)
    assert not result.regression
    assert result.p_value == pytest.approx(1.0)
    assert result.effect == pytest.approx(0.0)
    assert len(result.flipped_to_fail) == len(result.flipped_to_pass) == 4


def test_too_few_flips_are_not_significant() -> None:
    base, cur = runs(both_pass=20, both_fail=0, to_fail=5, to_pass=1)
    result = compare(base, cur)
    assert result.p_value == pytest.approx(0.21875)
    assert not result.regression


def test_improvement_is_never_a_regression() -> None:
    base, cur = runs(both_pass=4, both_fail=0, to_fail=0, to_pass=8)
    result = compare(base, cur)
    assert result.p_value == pytest.approx(0.0078125)
    assert result.effect > 0
    assert not result.regression


def test_min_effect_is_honoured() -> None:
    # 8 of 200 cases flip to fail: significant (p = 1/128), but the pass rate drops only 0.04.
    base, cur = runs(both_pass=192, both_fail=0, to_fail=8, to_pass=0)
    result = compare(base, cur)
    assert result.p_value == pytest.approx(0.0078125)
    assert result.effect == pytest.approx(-0.04)
    assert not result.regression
    assert compare(base, cur, min_effect=0.04).regression
    assert compare(base, cur, min_effect=0.0).regression


def test_a_drop_of_exactly_min_effect_counts_despite_float_rounding() -> None:
    # pass rate 0.85 -> 0.80; in floats 0.85 - 0.8 = 0.04999...
    result = compare(*runs(both_pass=80, both_fail=15, to_fail=5, to_pass=0), alpha=0.1)
    assert result.baseline_pass_rate == pytest.approx(0.85)
    assert result.current_pass_rate == pytest.approx(0.80)
    assert result.p_value == pytest.approx(0.0625)
    assert result.regression


def test_alpha_is_honoured() -> None:
    base, cur = runs(both_pass=14, both_fail=0, to_fail=6, to_pass=0)
    assert not compare(base, cur, alpha=0.03).regression
    assert compare(base, cur, alpha=0.04).regression


def test_flaky_cases_are_reported_apart_and_left_out() -> None:
    base, cur = runs(both_pass=14, both_fail=0, to_fail=6, to_pass=0)
    # Two more cases: one flaky in the baseline, one flaky now; both would look like flips to fail.
    base["flaky-before"] = CaseOutcome("flaky-before", [True, False, True], [1.0, 0.0, 1.0], None)
    cur["flaky-before"] = CaseOutcome("flaky-before", [False, False, False], [0.0, 0.0, 0.0], None)
    base["flaky-now"] = CaseOutcome("flaky-now", [True, True, True], [1.0, 1.0, 1.0], None)
    cur["flaky-now"] = CaseOutcome("flaky-now", [True, False, False], [1.0, 0.0, 0.0], None)
    result = compare(base, cur)
    assert result.flaky == ["flaky-before", "flaky-now"]
    assert "flaky-before" not in result.flipped_to_fail
    assert "flaky-now" not in result.flipped_to_fail
    assert result.compared == 20
    assert result.p_value == pytest.approx(0.03125)  # still b=6, c=0
    assert result.baseline_pass_rate == pytest.approx(1.0)


def test_repeated_stable_cases_use_their_majority() -> None:
    base = outcomes({f"c{i}": [True, True, True] for i in range(10)})
    cur = outcomes({f"c{i}": [i >= 6] * 3 for i in range(10)})
    result = compare(base, cur)
    assert result.flipped_to_fail == [f"c{i}" for i in range(6)]
    assert result.p_value == pytest.approx(0.03125)
    assert result.regression


def test_only_cases_in_both_runs_are_paired() -> None:
    base, cur = runs(both_pass=14, both_fail=0, to_fail=6, to_pass=0)
    base["gone"] = CaseOutcome("gone", [True], [1.0], None)
    cur["new"] = CaseOutcome("new", [False], [0.0], None)
    cur["empty"] = CaseOutcome("empty", [], [], None)
    base["empty"] = CaseOutcome("empty", [True], [1.0], None)
    result = compare(base, cur)
    assert result.compared == 20
    assert result.p_value == pytest.approx(0.03125)


def test_nothing_in_common_is_no_regression() -> None:
    result = compare(outcomes({"a": [True]}), outcomes({"b": [False]}))
    assert not result.regression
    assert result.p_value == 1.0
    assert result.compared == 0


def score_runs(n: int, drop: float) -> tuple[dict[str, CaseOutcome], dict[str, CaseOutcome]]:
    base = {f"c{i}": CaseOutcome(f"c{i}", [True], [0.9 - 0.01 * (i % 5)], None) for i in range(n)}
    cur = {
        f"c{i}": CaseOutcome(f"c{i}", [True], [0.9 - 0.01 * (i % 5) - drop + 0.02 * ((i % 3) - 1)], None)
        for i in range(n)
    }
    return base, cur


def test_bootstrap_flags_a_score_drop_and_is_deterministic() -> None:
    base, cur = score_runs(40, drop=0.1)
    first = compare(base, cur, method="bootstrap")
    second = compare(base, cur, method="bootstrap")
    assert first == second
    assert first.method == "bootstrap"
    assert first.regression
    assert first.p_value == pytest.approx(2 / 10_001)  # no resample has a mean difference >= 0
    assert first.effect == pytest.approx(-0.1, abs=0.01)
    assert first.ci is not None and first.ci[0] < first.effect < first.ci[1] < 0
    # No case flipped pass/fail: McNemar sees nothing, the scores do.
    assert not compare(base, cur).regression


def test_bootstrap_honours_min_effect_and_sees_no_change_as_none() -> None:
    base, cur = score_runs(40, drop=0.03)
    result = compare(base, cur, method="bootstrap")
    assert result.p_value < 0.05
    assert not result.regression  # drop 0.03 < 0.05
    assert compare(base, cur, method="bootstrap", min_effect=0.02).regression
    same = compare(base, base, method="bootstrap")
    assert same.p_value == 1.0
    assert not same.regression


def test_bootstrap_noise_is_not_significant() -> None:
    base = {f"c{i}": CaseOutcome(f"c{i}", [True], [0.5], None) for i in range(30)}
    cur = {f"c{i}": CaseOutcome(f"c{i}", [True], [0.5 + (0.2 if i % 2 else -0.2)], None) for i in range(30)}
    result = compare(base, cur, method="bootstrap")
    assert result.p_value > 0.5
    assert not result.regression


def test_bootstrap_seed_changes_only_the_resampling() -> None:
    base = {f"c{i}": CaseOutcome(f"c{i}", [True], [0.5], None) for i in range(25)}
    cur = {f"c{i}": CaseOutcome(f"c{i}", [True], [0.5 + ((i * 37) % 23 - 11) / 97], None) for i in range(25)}
    a = compare(base, cur, method="bootstrap", seed=1)
    b = compare(base, cur, method="bootstrap", seed=2)
    assert a.effect == b.effect
    assert a.ci != b.ci


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "ttest"}, "unknown comparison method"),
        ({"alpha": 0.0}, "alpha"),
        ({"min_effect": -1.0}, "min_effect"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare({}, {}, **kwargs)  # type: ignore[arg-type]
