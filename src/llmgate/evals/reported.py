"""What every report format of runs shares: the ``Reported`` pair and why a case failed.

``report`` (JSON, JUnit and the ``render`` dispatch), ``console`` (the terminal table) and
``html_report`` all read a run as ``(RunSummary, RunComparison | None)`` and explain a failed case
with the same one line; both live here so that the formats never import each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmgate.evals.results import CaseSummary, RunSummary

if TYPE_CHECKING:
    from llmgate.evals.history import RunComparison

__all__ = ["Reported", "failure_message"]

#: One model run and its comparison with the baseline, when there is one.
Reported = tuple[RunSummary, "RunComparison | None"]


def failure_message(case: CaseSummary) -> str:
    """One line: why a case failed (or errored), across its repetitions."""
    reasons: list[str] = []
    for result in case.results:
        if result.error:
            reason = result.error
        else:
            reason = "; ".join(f"{o.type}: {o.reason or 'failed'}" for o in result.assertions if not o.passed)
        if reason and reason not in reasons:
            reasons.append(reason)
    message = " | ".join(reasons) or case.status
    if len(case.results) > 1:
        bad = sum(not r.passed for r in case.results)
        message = f"{bad} of {len(case.results)} repetitions did not pass: {message}"
    return message
