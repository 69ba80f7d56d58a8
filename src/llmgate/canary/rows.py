"""A canary's row, made and moved: from its settings, and one step on (the controller and the
actions share these, so a promotion by hand and one by the controller change the same fields).

- ``settings_row``: a new canary at its first step, from ``CanarySettings`` (config or run time).
- ``config_hash``: a config canary's definition hashed, kept with it (``config_hash``): a
  definition changed since it started is told from the stored one.
- ``next_step``: what promoting changes: the next step's percent and start, or, at the last step
  (100 %) or with ``full``, status ``promoted``.
- ``evaluation``: one evaluation of the gates as ``last_evaluation`` and the events keep it (the
  shape ``timeline.py`` and ``llmgate canary status`` read).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llmgate.canary.decide import Decision
from llmgate.canary.gates import GateResult

if TYPE_CHECKING:
    from llmgate.config.canary_settings import CanarySettings
    from llmgate.store.canaries import CanaryRow

__all__ = ["config_hash", "evaluation", "next_step", "settings_row"]


def config_hash(settings: CanarySettings) -> str:
    """The hash of a canary's definition."""
    text = json.dumps(settings.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def settings_row(settings: CanarySettings, *, source: str, config_hash: str | None = None) -> CanaryRow:
    """A new canary's row from its settings: running, at its first step."""
    # SQLAlchemy (the store): off the gateway's start-up, loaded once a canary is made
    from llmgate.store.canaries import CanaryRow

    now = datetime.now(UTC)
    return CanaryRow(
        id=settings.id,
        model=settings.model,
        candidate=settings.candidate.model_dump(mode="json"),
        steps=tuple(float(step) for step in settings.steps),
        gates=tuple(settings.gates),
        sticky=settings.sticky,
        alpha=settings.alpha,
        min_step_requests=settings.min_step_requests,
        tolerances=dict(settings.tolerances),
        status="running",
        step_index=0,
        percent=float(settings.steps[0]),
        source=source,
        config_hash=config_hash,
        started_at=now,
        step_started_at=now,
        updated_at=now,
    )


def next_step(row: CanaryRow, at: datetime, *, full: bool = False) -> tuple[str, dict[str, Any]]:
    """The action (``step`` or ``promote``) and the changes that move ``row`` one step on."""
    last = len(row.steps) - 1
    index = row.step_index + 1
    if full or index >= last or row.percent >= 100 or row.steps[min(index, last)] >= 100:
        changes = {
            "status": "promoted",
            "percent": 100.0,
            "step_index": last,
            "step_started_at": at,
            "ended_at": at,
        }
        return "promote", changes
    return "step", {"percent": float(row.steps[index]), "step_index": index, "step_started_at": at}


def evaluation(
    row: CanaryRow,
    *,
    step_requests: int,
    candidate_requests: int,
    stable_requests: int,
    results: Sequence[GateResult],
    decision: Decision,
) -> dict[str, Any]:
    """One evaluation of ``row``'s gates, JSON-ready."""
    return {
        "at": datetime.now(UTC).isoformat(),
        "percent": row.percent,
        "step_index": row.step_index,
        "step_requests": step_requests,
        "candidate_requests": candidate_requests,
        "stable_requests": stable_requests,
        "gates": [result.as_dict() for result in results],
        "decision": {"action": decision.action, "reason": decision.reason, "failing": list(decision.failing)},
    }
