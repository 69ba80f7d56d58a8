"""What a finished scheduled eval run says, and the alerts it raises.

``outcome_of`` reads a runner summary into a ``RunOutcome``: its pass/fail/error counts and its
comparison with the suite's baseline (the runner's own, else computed here from the stored
baseline), with the flipped cases' old and new answers. ``regression_alert``, ``errors_alert`` and
``failure_alert`` are the ``eval.regression`` and ``eval.error`` alerts ``EvalScheduler``
(``evals/scheduler.py``) raises for it.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmgate.telemetry.alerts import Alert

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmgate.evals.regression import Comparison

__all__ = ["RunOutcome", "errors_alert", "failure_alert", "one_line", "outcome_of", "regression_alert"]

# the scheduler's logger: these lines are part of what a scheduled run logs
log = logging.getLogger("llmgate.evals.scheduler")

#: Flipped cases whose answers go into a regression alert, and how much of each answer.
_ALERT_FLIPS = 20
_ALERT_TEXT = 500


@dataclass(frozen=True)
class RunOutcome:
    """What the scheduler needs from one finished run: its counts and its baseline comparison."""

    run_id: str
    suite: str
    model: str
    passed: int
    failed: int
    errors: int
    comparison: Comparison | None = None
    baseline_run_id: str | None = None
    flips: tuple[dict[str, Any], ...] = ()  # {case_id, direction, old_output, new_output}


def outcome_of(summary: Any, engine: Engine | None) -> RunOutcome:
    """Read a runner summary: ``passed``/``failed``/``errors`` attributes, else its ``counts()``;
    its ``comparison`` (a ``Comparison`` or a ``history.RunComparison``), else the comparison with
    the stored baseline (``history.compare_with_baseline``), computed here. Blocking: in a thread."""
    if getattr(summary, "passed", None) is not None:
        counts = {k: int(getattr(summary, k)) for k in ("passed", "failed", "errors")}
    else:
        counts = {k: int(v) for k, v in summary.counts().items() if k in ("passed", "failed", "errors")}
    found = getattr(summary, "comparison", None)
    if found is None and engine is not None:
        try:
            # numpy (the regression statistics) loads only once a scheduled run is compared
            from llmgate.evals.history import compare_with_baseline

            found = compare_with_baseline(engine, summary)
        except Exception as exc:
            log.warning("eval run %s: comparison with the baseline failed: %s", summary.run_id, one_line(exc))
    baseline_run_id = getattr(summary, "baseline_run_id", None)
    flips: tuple[dict[str, Any], ...] = ()
    if found is not None and hasattr(found, "baseline"):  # a RunComparison: with the answers
        baseline_run_id = found.baseline.run_id
        flips = tuple(
            {
                "case_id": f.case_id,
                "direction": f.direction,
                "old_output": (f.old_output or "")[:_ALERT_TEXT],
                "new_output": (f.new_output or "")[:_ALERT_TEXT],
            }
            for f in found.flips[:_ALERT_FLIPS]
        )
        found = found.comparison
    return RunOutcome(
        run_id=summary.run_id,
        suite=summary.suite,
        model=summary.model,
        comparison=found,
        baseline_run_id=baseline_run_id,
        flips=flips,
        **counts,
    )


def regression_alert(run: RunOutcome, *, schedule: str | None = None) -> Alert:
    """The ``eval.regression`` alert for a run whose comparison with its baseline says so."""
    comparison = run.comparison
    assert comparison is not None
    return Alert(
        source="eval",
        kind="eval.regression",
        severity="warning",
        title=(
            f"eval regression: {run.suite} on {run.model}, pass rate "
            f"{comparison.baseline_pass_rate:.0%} -> {comparison.current_pass_rate:.0%} "
            f"(p={comparison.p_value:.3g})"
        ),
        details={
            "schedule": schedule,
            "suite": run.suite,
            "model": run.model,
            "run_id": run.run_id,
            "baseline_run_id": run.baseline_run_id,
            **dataclasses.asdict(comparison),  # method, p_value, effect, pass rates, flipped, flaky
            "flips": list(run.flips),
        },
    )


def one_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    lines = str(message).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def errors_alert(run: RunOutcome, *, schedule: str) -> Alert:
    """The ``eval.error`` alert for a run in which some cases ended in errors."""
    title = f"eval {run.suite} on {run.model}: {run.errors} case(s) errored"
    details = {
        "schedule": schedule,
        "suite": run.suite,
        "model": run.model,
        "run_id": run.run_id,
        "errors": run.errors,
        "passed": run.passed,
        "failed": run.failed,
    }
    return Alert("eval", "eval.error", "warning", title, details)


def failure_alert(schedule: str, suite: str, problem: str) -> Alert:
    """The ``eval.error`` alert for a scheduled run that raised (``problem``: its one-line message)."""
    details = {"schedule": schedule, "suite": suite, "error": problem}
    title = f"scheduled eval {schedule!r} failed: {problem}"
    return Alert("eval", "eval.error", "warning", title, details)
