"""Stored runs read back, and compared: a run against another, or against its suite's baseline.

``compare_summaries`` pairs two runs case by case and hands them to ``regression.compare``
(exact McNemar by default); ``RunComparison`` adds, for every case that flipped, its old and new
answers side by side. ``compare_with_baseline`` finds the baseline of a run's suite and model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmgate.evals.results import CaseSummary, RunSummary

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmgate.evals.regression import CaseOutcome, Comparison


class RunNotFound(LookupError):
    """No stored run has that id (or id prefix)."""


@dataclass(frozen=True)
class Flip:
    """A case that passed in one run and failed in the other."""

    case_id: str
    direction: str  # to_fail | to_pass
    old_output: str | None
    new_output: str | None
    old_score: float
    new_score: float
    reason: str  # why the failing side failed


@dataclass(frozen=True)
class RunComparison:
    """``current`` compared with ``baseline``: the statistics, the flips, the flaky cases."""

    baseline: RunSummary
    current: RunSummary
    comparison: Comparison
    flips: list[Flip]
    suite_changed: bool  # the suite file's content differs between the runs

    @property
    def regression(self) -> bool:
        return self.comparison.regression

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "baseline_run": self.baseline.run_id,
            "current_run": self.current.run_id,
            "regression": c.regression,
            "method": c.method,
            "p_value": round(c.p_value, 6),
            "effect": round(c.effect, 6),
            "baseline_pass_rate": round(c.baseline_pass_rate, 6),
            "current_pass_rate": round(c.current_pass_rate, 6),
            "flipped_to_fail": c.flipped_to_fail,
            "flipped_to_pass": c.flipped_to_pass,
            "flaky": c.flaky,
            "suite_changed": self.suite_changed,
            "flips": [
                {
                    "id": f.case_id,
                    "direction": f.direction,
                    "old_output": f.old_output,
                    "new_output": f.new_output,
                    "old_score": round(f.old_score, 6),
                    "new_score": round(f.new_score, 6),
                    "reason": f.reason,
                }
                for f in self.flips
            ],
        }


def outcomes(summary: RunSummary) -> dict[str, CaseOutcome]:
    """Each case's repetitions as ``regression.CaseOutcome`` (an error counts as a fail, score 0)."""
    # numpy (regression's statistics) loads only when runs are compared, not to list or show one
    from llmgate.evals.regression import CaseOutcome

    return {
        case.case_id: CaseOutcome(
            case_id=case.case_id,
            passes=[r.passed for r in case.results],
            scores=[r.score for r in case.results],
            output=case.first.output,
        )
        for case in summary.cases()
    }


def _why(case: CaseSummary | None) -> str:
    if case is None:
        return ""
    for result in case.results:
        if result.error:
            return result.error
        failed = [o for o in result.assertions if not o.passed]
        if failed:
            return "; ".join(f"{o.type}: {o.reason or 'failed'}" for o in failed)
    return ""


def compare_summaries(
    baseline: RunSummary,
    current: RunSummary,
    *,
    alpha: float = 0.05,
    min_effect: float = 0.05,
    method: str = "mcnemar",
) -> RunComparison:
    """Compare two runs case by case (``ValueError`` for a bad ``alpha``, ``min_effect`` or ``method``)."""
    # numpy (regression's statistics) loads only when runs are compared, not to list or show one
    from llmgate.evals.regression import compare

    comparison = compare(
        outcomes(baseline), outcomes(current), alpha=alpha, min_effect=min_effect, method=method
    )
    old = {c.case_id: c for c in baseline.cases()}
    new = {c.case_id: c for c in current.cases()}
    flips: list[Flip] = []
    for direction, ids in (("to_fail", comparison.flipped_to_fail), ("to_pass", comparison.flipped_to_pass)):
        for case_id in ids:
            before, after = old[case_id], new[case_id]
            flips.append(
                Flip(
                    case_id=case_id,
                    direction=direction,
                    old_output=before.first.output,
                    new_output=after.first.output,
                    old_score=before.score,
                    new_score=after.score,
                    reason=_why(after if direction == "to_fail" else before),
                )
            )
    return RunComparison(
        baseline=baseline,
        current=current,
        comparison=comparison,
        flips=flips,
        suite_changed=baseline.suite_hash != current.suite_hash,
    )


def find_run(engine: Engine, ref: str) -> dict[str, Any]:
    """The ``eval_runs`` row of ``ref`` (an id or a unique id prefix); ``RunNotFound`` if none."""
    from llmgate.store import evals as store  # SQLAlchemy: only when the store is read

    try:
        run = store.find_run(engine, ref)
    except store.AmbiguousRun as exc:
        raise RunNotFound(str(exc)) from None
    if run is None:
        raise RunNotFound(f"no eval run {ref!r} in the store")
    return run


def load_run(engine: Engine, ref: str) -> RunSummary:
    """The stored run ``ref`` (an id or a unique id prefix) with its results; ``RunNotFound`` if none."""
    from llmgate.store import evals as store  # SQLAlchemy: only when the store is read

    run = find_run(engine, ref)
    return RunSummary.from_store(run, store.get_results(engine, run["id"]))


def compare_with_baseline(
    engine: Engine,
    current: RunSummary,
    *,
    alpha: float = 0.05,
    min_effect: float = 0.05,
    method: str = "mcnemar",
) -> RunComparison | None:
    """``current`` against the baseline of its suite and model, or ``None`` when there is none
    (or the baseline is ``current`` itself, or its run is gone)."""
    from llmgate.store import evals as store  # SQLAlchemy: only when the store is read

    row = store.get_baseline(engine, current.suite, current.model)
    if row is None or row["run_id"] == current.run_id:
        return None
    try:
        baseline = load_run(engine, row["run_id"])
    except RunNotFound:
        return None
    return compare_summaries(baseline, current, alpha=alpha, min_effect=min_effect, method=method)
