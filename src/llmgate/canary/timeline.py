"""The canary releases as the dashboard shows them: every canary with its last evaluation, and one
canary's split over time and decision log.

- ``canaries_overview``: every canary, active ones (``running``, ``paused``) first, then the others
  by start, newest first; each with its definition, where it stands and its last evaluation (the
  gates and the decision, as the controller wrote them).
- ``canary_detail``: one canary (by id, or a model's active or latest canary, as ``get_canary``)
  with its events newest first (the decision log; each event that carries an evaluation has it,
  gates included) and its split over time: ``(at, percent)`` points built from the events, one
  per change of the candidate's share (an ``evaluate`` event only when the share moved), up to now
  (or the canary's end).

Reads ``store/canaries.py``; shapes plain dicts for ``server/routes/ui_canaries.py``. Non-finite
numbers in an evaluation are ``None`` (JSON has no infinity).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from llmgate.store.canaries import CanaryRow, canary_events, get_canary, list_canaries

__all__ = [
    "GATE_KEYS",
    "canaries_overview",
    "canary_detail",
    "candidate_label",
    "decision_log",
    "evaluation_view",
    "split_series",
]

#: a gate's result, as the controller stores it (``dataclasses.asdict`` of ``GateResult``)
GATE_KEYS = (
    "name",
    "verdict",
    "effect",
    "low",
    "high",
    "tolerance",
    "n_candidate",
    "n_stable",
    "confidence",
    "note",
)
_EVALUATION_KEYS = ("at", "percent", "step_index", "step_requests", "candidate_requests", "stable_requests")
#: what an event's details say that the log shows on its own (the rest goes in its ``details``)
_SHOWN = frozenset(_EVALUATION_KEYS) | {"gates", "decision", "reason"}
#: how much of a system prompt a candidate's label shows
_PROMPT_CHARS = 60


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def candidate_label(model: str, candidate: Mapping[str, Any]) -> str:
    """What the candidate is, in a few words: another group, a deployment, or the same model with
    another system prompt and/or parameters."""
    parts: list[str] = []
    if candidate.get("model"):
        parts.append(str(candidate["model"]))
    elif candidate.get("deployment"):
        parts.append(f"deployment {candidate['deployment']}")
    else:
        parts.append(model)
    prompt = candidate.get("system_prompt")
    if prompt:
        text = str(prompt)
        parts.append(
            "system prompt “" + (text[:_PROMPT_CHARS] + "…" if len(text) > _PROMPT_CHARS else text) + "”"
        )
    params = candidate.get("params") or {}
    if params:
        parts.append(", ".join(f"{k}={v}" for k, v in sorted(params.items())))
    base, extras = parts[0], parts[1:]
    return base + (" with " + " and ".join(extras) if extras else "")


def evaluation_view(evaluation: Any) -> dict[str, Any] | None:
    """An evaluation (``last_evaluation`` or an event's details) with its gates and decision, or
    ``None`` when it is none (a ``start`` event's details list the gate *names*)."""
    if not isinstance(evaluation, Mapping):
        return None
    gates = evaluation.get("gates")
    if not isinstance(gates, list) or not all(isinstance(gate, Mapping) for gate in gates):
        return None
    if not gates and not isinstance(evaluation.get("decision"), Mapping):
        return None
    view: dict[str, Any] = {key: _finite(evaluation.get(key)) for key in _EVALUATION_KEYS}
    view["gates"] = [{key: _finite(gate.get(key)) for key in GATE_KEYS} for gate in gates]
    decision = evaluation.get("decision")
    if isinstance(decision, Mapping):
        view["decision"] = {
            "action": decision.get("action"),
            "reason": decision.get("reason"),
            "failing": list(decision.get("failing") or []),
        }
    else:
        view["decision"] = None
    return view


def _summary(row: CanaryRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "model": row.model,
        "candidate": row.candidate,
        "candidate_label": candidate_label(row.model, row.candidate),
        "status": row.status,
        "active": row.active,
        "percent": row.percent,
        "step_index": row.step_index,
        "steps": list(row.steps),
        "sticky": row.sticky,
        "gate_names": list(row.gates),
        "tolerances": row.tolerances,
        "alpha": row.alpha,
        "min_step_requests": row.min_step_requests,
        "source": row.source,
        "started_at": row.started_at,
        "step_started_at": row.step_started_at,
        "updated_at": row.updated_at,
        "ended_at": row.ended_at,
        "version": row.version,
        "evaluation": evaluation_view(row.last_evaluation),
    }


def _order(rows: Sequence[CanaryRow]) -> list[CanaryRow]:
    """Active canaries first, then the others; newest start first within each."""
    newest = sorted(rows, key=lambda r: (r.started_at, r.id), reverse=True)
    return sorted(newest, key=lambda r: not r.active)


def canaries_overview(engine: Engine) -> dict[str, Any]:
    return {"canaries": [_summary(row) for row in _order(list_canaries(engine))]}


def split_series(row: CanaryRow, events: Sequence[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The candidate's share over time, from the events in order: a point at each event that set
    it (an ``evaluate`` only when it moved), then where it stands now or at the canary's end."""
    points: list[dict[str, Any]] = []
    for event in events:
        percent = event.get("percent")
        if percent is None:
            continue
        if event["action"] == "evaluate" and points and points[-1]["percent"] == percent:
            continue
        points.append({"at": event["at"], "percent": percent, "action": event["action"]})
    if not points:
        points.append({"at": row.started_at, "percent": row.percent, "action": "start"})
    end = row.ended_at if row.ended_at is not None else max(now, points[-1]["at"])
    points.append({"at": end, "percent": row.percent, "action": "now" if row.active else "end"})
    return points


def decision_log(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The events newest first, each with its reason, the failing gates and its evaluation (if any)."""
    log: list[dict[str, Any]] = []
    for event in reversed(events):
        details = event.get("details") or {}
        evaluation = evaluation_view(details)
        decision = (evaluation or {}).get("decision") or {}
        reason = details.get("reason") or decision.get("reason")
        log.append(
            {
                "id": event["id"],
                "at": event["at"],
                "action": event["action"],
                "actor": event.get("actor"),
                "percent": event.get("percent"),
                "reason": reason,
                "failing": list(decision.get("failing") or details.get("failing") or []),
                "evaluation": evaluation,
                "details": {
                    k: v for k, v in details.items() if k not in (_SHOWN if evaluation else ("reason",))
                },
            }
        )
    return log


def canary_detail(engine: Engine, ref: str, *, now: datetime, limit: int = 500) -> dict[str, Any] | None:
    """One canary, its split over time and its newest ``limit`` events; ``None`` if there is none."""
    row = get_canary(engine, ref)
    if row is None:
        return None
    events = canary_events(engine, row.id)
    log = decision_log(events)
    return _summary(row) | {
        "split": split_series(row, events, now),
        "events": log[:limit],
        "events_total": len(log),
        "events_truncated": len(log) > limit,
        "now": now,
    }
