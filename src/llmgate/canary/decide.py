"""What the controller does with one evaluation of a canary's gates: roll back, promote or hold.

- ``rollback`` as soon as any gate says ``fail`` (the candidate is surely worse than stable by more
  than that gate's tolerance). Nothing else is needed: the gates' bounds are always valid, so
  acting on the first look that fails does not inflate false rollbacks.
- ``promote`` (to the next step) when every gate says ``pass`` or ``no_data``, at least one says
  ``pass`` (no step is taken on no evidence at all), and the candidate has served at least
  ``min_step_requests`` requests at the current step.
- ``hold`` otherwise: some gate is still ``undecided``, or the step is too young.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from llmgate.canary.gates import GateResult

__all__ = ["Action", "Decision", "decide", "describe"]

Action = Literal["rollback", "promote", "hold"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The action, one line saying why, and the names of the failing gates (for a rollback)."""

    action: Action
    reason: str
    failing: tuple[str, ...] = ()


def describe(result: GateResult) -> str:
    """One gate's evidence in one phrase: ``errors: +0.391 [0.302, 0.480] vs tolerance 0.02 (n 120/1080)``."""
    if result.effect is None:
        return (
            f"{result.name}: {result.verdict} ({result.note})"
            if result.note
            else f"{result.name}: {result.verdict}"
        )
    bound = "" if result.low is None or result.high is None else f" [{result.low:+.3g}, {result.high:+.3g}]"
    tolerance = "" if result.tolerance is None else f" vs tolerance {result.tolerance:g}"
    return f"{result.name}: {result.effect:+.3g}{bound}{tolerance} (n {result.n_candidate}/{result.n_stable})"


def decide(results: Sequence[GateResult], step_requests: int, min_step_requests: int) -> Decision:
    """Roll back on any failing gate; promote when every gate passes or has no data (one passing at
    least) and the step has served ``min_step_requests`` candidate requests; else hold."""
    failing = tuple(r.name for r in results if r.verdict == "fail")
    if failing:
        details = "; ".join(describe(r) for r in results if r.verdict == "fail")
        return Decision("rollback", f"candidate worse than stable: {details}", failing)
    waiting = [r.name for r in results if r.verdict == "undecided"]
    passed = [r.name for r in results if r.verdict == "pass"]
    if waiting:
        return Decision("hold", f"waiting for evidence on {', '.join(waiting)}")
    if not passed:
        return Decision("hold", "no gate has data yet")
    if step_requests < min_step_requests:
        return Decision("hold", f"{step_requests} of {min_step_requests} candidate requests at this step")
    no_data = [r.name for r in results if r.verdict == "no_data"]
    reason = f"non-inferior on {', '.join(passed)}" + (f" (no data: {', '.join(no_data)})" if no_data else "")
    return Decision("promote", f"{reason}; {step_requests} candidate requests at this step")
