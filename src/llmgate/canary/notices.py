"""The alerts a canary's end raises: ``canary.rolled_back`` (critical) and ``canary.promoted`` (info).

Both have source ``canary`` and carry the canary, its model and candidate, why, and the traffic each
arm took. A rollback's alert also carries the failing gates with their numbers (effect, bound,
tolerance, sample sizes) and ``first_affected_at``, the canary's first candidate request: it is
stored (``store_rollback_alert``) with that time as ``first_affected_at`` and the rollback as
``resolved_at``, so the operations report measures the time to detect and to resolve.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from llmgate.canary.gates import GateResult
from llmgate.telemetry.alerts import Alert, store_alert

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmgate.store.canaries import CanaryRow

__all__ = ["promoted_alert", "rolled_back_alert", "store_rollback_alert"]

log = logging.getLogger("llmgate.canary")


def rolled_back_alert(
    row: CanaryRow,
    *,
    reason: str,
    results: Sequence[GateResult],
    evaluation: Mapping[str, Any],
    first_affected_at: datetime | None,
    at: datetime,
) -> Alert:
    failing = [result for result in results if result.verdict == "fail"]
    return Alert(
        source="canary",
        kind="canary.rolled_back",
        severity="critical",
        title=f"canary {row.id} on {row.model} rolled back: {', '.join(r.name for r in failing)} failed",
        details={
            "canary_id": row.id,
            "model": row.model,
            "candidate": row.candidate,
            "percent": row.percent,
            "step_index": row.step_index,
            "reason": reason,
            "failing": [result.as_dict() for result in failing],
            "candidate_requests": evaluation.get("candidate_requests"),
            "stable_requests": evaluation.get("stable_requests"),
            "first_affected_at": first_affected_at.isoformat() if first_affected_at is not None else None,
            "rolled_back_at": at.isoformat(),
        },
        at=at,
    )


def promoted_alert(row: CanaryRow, *, reason: str, evaluation: Mapping[str, Any], at: datetime) -> Alert:
    return Alert(
        source="canary",
        kind="canary.promoted",
        severity="info",
        title=f"canary {row.id} on {row.model} promoted: the candidate serves all traffic",
        details={
            "canary_id": row.id,
            "model": row.model,
            "candidate": row.candidate,
            "reason": reason,
            "candidate_requests": evaluation.get("candidate_requests"),
            "stable_requests": evaluation.get("stable_requests"),
            "promoted_at": at.isoformat(),
        },
        at=at,
    )


def store_rollback_alert(engine: Engine, alert: Alert, first_affected_at: datetime | None) -> int | None:
    """Store a rollback's alert, affected since ``first_affected_at`` and resolved at once (the
    rollback is the resolution). Never raises: the sinks get the alert all the same."""
    try:
        return store_alert(engine, alert, first_affected_at=first_affected_at, resolved_at=alert.at)
    except Exception as exc:
        log.warning("could not store the alert %r: %s", alert.kind, type(exc).__name__)
        return None
