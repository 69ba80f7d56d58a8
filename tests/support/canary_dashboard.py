"""Canaries written through the store's own functions (``insert_canary``, ``update_canary``), in the
shapes the controller writes (the design's Addendum), for the dashboard's Canaries tests.

- ``chat-v2`` on ``chat-large`` (2 days ago): 10% → evaluated → stepped to 50% → paused (a reason
  full of HTML) → resumed → rolled back on its ``errors`` gate (0%, ended).
- ``old-done`` on ``chat-large`` (5 days ago): promoted to 100%.
- ``echo-prompt`` on ``echo-small`` (3 days ago): running at 5%, a system-prompt and params candidate.
- ``paused-one`` on ``echo-paused`` (1 day ago): paused at 1%, never evaluated.

So the list reads: active first, newest first (``paused-one``, ``echo-prompt``), then the ended
ones newest first (``chat-v2``, ``old-done``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from llmgate.store.canaries import CanaryRow, insert_canary, update_canary
from support.dashboard import HOSTILE

ORDER = ["paused-one", "echo-prompt", "chat-v2", "old-done"]
GATES = ("errors", "latency", "groundedness")
PAUSE_REASON = "checking the dashboards " + HOSTILE


def gate(
    name: str,
    verdict: str,
    effect: float | None,
    low: float | None,
    high: float | None,
    tolerance: float,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "verdict": verdict,
        "effect": effect,
        "low": low,
        "high": high,
        "tolerance": tolerance,
        "n_candidate": extra.get("n_candidate", 400),
        "n_stable": extra.get("n_stable", 3600),
        "confidence": extra.get("confidence", 0.9833),
        "note": extra.get("note", ""),
    }


def evaluation(
    percent: float, step_index: int, gates: list[dict[str, Any]], action: str, reason: str
) -> dict[str, Any]:
    failing = [g["name"] for g in gates if g["verdict"] == "fail"]
    return {
        "at": datetime.now(UTC).isoformat(),
        "percent": percent,
        "step_index": step_index,
        "step_requests": 400,
        "candidate_requests": 450,
        "stable_requests": 4050,
        "gates": gates,
        "decision": {"action": action, "reason": reason, "failing": failing},
    }


NO_RAG = gate(
    "groundedness", "no_data", None, None, None, 0.05, n_candidate=0, n_stable=0, note="no RAG requests"
)
#: the evaluation held at 10% (not enough evidence yet)
HOLD = evaluation(
    10.0,
    0,
    [
        gate("errors", "undecided", 0.004, -0.01, 0.03, 0.02),
        gate("latency", "undecided", -0.01, -0.05, 0.02, 0.0),
        NO_RAG,
    ],
    "hold",
    "not enough evidence",
)
#: the evaluation that rolled chat-v2 back: errors surely over their tolerance
ROLLBACK = evaluation(
    50.0,
    1,
    [
        gate("errors", "fail", 0.38, 0.31, 0.45, 0.02, note="candidate 40.1% vs stable 2.0% " + HOSTILE),
        gate("latency", "pass", -0.04, -0.05, -0.01, 0.0),
        NO_RAG,
    ],
    "rollback",
    "errors: the candidate is worse than stable by more than 0.02",
)


def _row(canary_id: str, model: str, candidate: dict[str, Any], days_ago: float, **extra: Any) -> CanaryRow:
    started = datetime.now(UTC) - timedelta(days=days_ago)
    steps = extra.pop("steps", (10.0, 50.0, 100.0))
    return CanaryRow(
        id=canary_id,
        model=model,
        candidate=candidate,
        steps=steps,
        gates=GATES,
        sticky=extra.pop("sticky", "user"),
        alpha=0.05,
        min_step_requests=100,
        percent=steps[0],
        source="cli",
        started_at=started,
        step_started_at=started,
        **extra,
    )


def seed_canaries(engine: Any) -> None:
    old = insert_canary(engine, _row("old-done", "chat-large", {"model": "echo-small"}, 5), "cli:ops")
    for index, percent in ((1, 50.0), (2, 100.0)):
        update_canary(engine, old.id, actor="controller", action="step", step_index=index, percent=percent)
    update_canary(
        engine, old.id, actor="controller", action="promote", status="promoted", ended_at=datetime.now(UTC)
    )

    chat = insert_canary(engine, _row("chat-v2", "chat-large", {"model": "echo-small"}, 2), "cli:ops")
    update_canary(engine, chat.id, actor="controller", action="evaluate", details=HOLD, last_evaluation=HOLD)
    step = evaluation(
        10.0, 0, [gate("errors", "pass", 0.0, -0.01, 0.01, 0.02)], "promote", "every gate passes"
    )
    update_canary(
        engine, chat.id, actor="controller", action="step", details=step, step_index=1, percent=50.0
    )
    update_canary(
        engine, chat.id, actor="cli:alice", action="pause", details={"reason": PAUSE_REASON}, status="paused"
    )
    update_canary(engine, chat.id, actor="cli:alice", action="resume", status="running")
    update_canary(
        engine,
        chat.id,
        actor="controller",
        action="rollback",
        details=ROLLBACK,
        status="rolled_back",
        percent=0.0,
        ended_at=datetime.now(UTC),
        last_evaluation=ROLLBACK,
    )

    candidate = {"system_prompt": "Answer in one short sentence.", "params": {"temperature": 0.2}}
    echo = _row("echo-prompt", "echo-small", candidate, 3, steps=(5.0, 25.0, 100.0), sticky="session")
    insert_canary(engine, echo, "api:ops-admin")
    update_canary(
        engine, "echo-prompt", actor="controller", action="evaluate", details=HOLD, last_evaluation=HOLD
    )

    paused = _row("paused-one", "echo-paused", {"deployment": "dep-7"}, 1, steps=(1.0, 100.0), sticky="key")
    insert_canary(engine, paused, "cli:ops")
    update_canary(engine, "paused-one", actor="cli:ops", action="pause", status="paused")
