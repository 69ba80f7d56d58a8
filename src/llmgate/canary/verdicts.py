"""What a canary gate says: ``GateResult`` (its verdict, effect, bound and sample sizes) and the
confidence levels its bound is read at (``Levels``).

Two levels, because the two decisions have different error budgets:

- a **rollback** follows when *any* gate fails, so a false rollback of an identical candidate is a
  union over the gates: the lower bounds share the budget ``alpha`` (Bonferroni over the gates with
  data: ``alpha / k`` each);
- a **promotion** needs *every* gate to pass, so promoting a candidate that is worse on some gate
  needs *that* gate's upper bound to be wrong: the upper bounds are each at ``alpha``, with no split
  (an intersection-union test; Berger, 1982).

``GateResult.low`` is a one-sided lower bound at ``confidence`` (``1 - alpha / k``), ``high`` a
one-sided upper bound at ``confidence_high`` (``1 - alpha``). ``as_dict`` / ``from_dict`` are the JSON
the controller stores and the dashboard reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["GateResult", "Levels", "Verdict"]

Verdict = Literal["pass", "fail", "undecided", "no_data"]
_NUMBERS = ("effect", "low", "high", "tolerance", "confidence", "confidence_high")


@dataclass(frozen=True, slots=True)
class Levels:
    """The miscoverage of the lower bounds (``rollback``) and of the upper bounds (``promote``)."""

    rollback: float
    promote: float

    @classmethod
    def split(cls, alpha: float, gates_with_data: int) -> Levels:
        """``alpha`` shared by the gates for a rollback, whole for each gate for a promotion."""
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        return cls(rollback=alpha / max(gates_with_data, 1), promote=alpha)


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate's verdict, its effect (larger: the candidate worse) bounded below at ``confidence``
    and above at ``confidence_high``, its tolerance, the sample sizes it rests on, and a note saying
    what was measured or why there is no verdict (``None``: not computed)."""

    name: str
    verdict: Verdict
    effect: float | None
    low: float | None
    high: float | None
    tolerance: float | None
    n_candidate: int
    n_stable: int
    confidence: float | None
    note: str = ""
    confidence_high: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers as ``None``)."""
        data = asdict(self)
        for key in _NUMBERS:
            value = data[key]
            if value is not None and not math.isfinite(value):
                data[key] = None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        """The inverse of ``as_dict``."""
        numbers = {key: None if data.get(key) is None else float(data[key]) for key in _NUMBERS}
        return cls(
            name=str(data["name"]),
            verdict=data["verdict"],
            n_candidate=int(data.get("n_candidate") or 0),
            n_stable=int(data.get("n_stable") or 0),
            note=str(data.get("note") or ""),
            **numbers,
        )
