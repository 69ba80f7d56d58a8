"""How the dashboard shapes a canary (``canary/timeline.py``), on rows and events made here: the
candidate in a few words, evaluations with non-finite bounds, the split over time from events
(an evaluation counts only when the share moved), and the decision log newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from llmgate.canary.timeline import candidate_label, decision_log, evaluation_view, split_series
from llmgate.store.canaries import CanaryRow

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _row(**extra: Any) -> CanaryRow:
    values: dict[str, Any] = {
        "id": "c",
        "model": "chat",
        "candidate": {"model": "chat-v2"},
        "steps": (10.0, 50.0, 100.0),
        "gates": ("errors",),
        "sticky": "user",
        "alpha": 0.05,
        "min_step_requests": 100,
        "percent": 10.0,
        "started_at": T0,
    }
    return CanaryRow(**(values | extra))


def _event(n: int, action: str, share: float | None, **details: Any) -> dict[str, Any]:
    return {
        "id": n,
        "at": T0 + timedelta(minutes=n),
        "action": action,
        "actor": "controller",
        "percent": share,
        "details": details,
    }


def _gate(**extra: Any) -> dict[str, Any]:
    base = {"name": "errors", "verdict": "undecided", "effect": 0.01, "low": -0.02, "high": 0.04}
    return (
        base | {"tolerance": 0.02, "n_candidate": 40, "n_stable": 400, "confidence": 0.95, "note": ""} | extra
    )


def test_the_candidate_in_a_few_words() -> None:
    assert candidate_label("chat", {"model": "chat-v2"}) == "chat-v2"
    assert candidate_label("chat", {"deployment": "dep-1"}) == "deployment dep-1"
    assert (
        candidate_label("chat", {"params": {"top_p": 0.9, "temperature": 0}})
        == "chat with temperature=0, top_p=0.9"
    )
    long = "x" * 100
    label = candidate_label("chat", {"system_prompt": long, "params": {"temperature": 1}})
    assert label == "chat with system prompt “" + "x" * 60 + "…” and temperature=1"


def test_an_evaluation_keeps_its_gates_and_drops_non_finite_bounds() -> None:
    gate = _gate(low=float("-inf"), high=float("nan"), extra_key="ignored")
    view = evaluation_view({"at": "t", "percent": 10.0, "gates": [gate], "decision": {"action": "hold"}})
    assert view is not None
    assert view["gates"] == [_gate(low=None, high=None)]
    assert view["decision"] == {"action": "hold", "reason": None, "failing": []}
    assert view["stable_requests"] is None  # absent keys are None, not missing
    # a start event's details name the gates: that is no evaluation
    assert evaluation_view({"gates": ["errors", "latency"], "steps": [10, 100]}) is None
    assert evaluation_view({"reason": "manual"}) is None
    assert evaluation_view(None) is None


def test_the_split_moves_with_the_events_and_reaches_now_or_the_end() -> None:
    events = [
        _event(0, "start", 10.0),
        _event(1, "evaluate", 10.0),  # nothing moved: no point
        _event(2, "step", 50.0),
        _event(3, "evaluate", 0.0),  # a share the events moved, whatever the action: a point
        _event(4, "note", None),  # no share: no point
    ]
    now = T0 + timedelta(hours=1)
    series = split_series(_row(percent=0.0), events, now)
    assert [(p["action"], p["percent"], p["at"]) for p in series] == [
        ("start", 10.0, T0),
        ("step", 50.0, T0 + timedelta(minutes=2)),
        ("evaluate", 0.0, T0 + timedelta(minutes=3)),
        ("now", 0.0, now),
    ]
    ended = T0 + timedelta(minutes=30)
    done = split_series(_row(status="rolled_back", percent=0.0, ended_at=ended), events, now)
    assert done[-1] == {"at": ended, "percent": 0.0, "action": "end"}
    assert split_series(_row(), [], now) == [
        {"at": T0, "percent": 10.0, "action": "start"},
        {"at": now, "percent": 10.0, "action": "now"},
    ]


def test_the_decision_log_is_newest_first_with_reasons_and_evidence() -> None:
    decision = {"action": "rollback", "reason": "errors: worse", "failing": ["errors"]}
    events = [
        _event(1, "start", 10.0, gates=["errors"], sticky="user"),
        _event(2, "pause", 10.0, reason="looking", ticket="OPS-1"),
        _event(3, "rollback", 0.0, gates=[_gate(verdict="fail")], decision=decision, percent=10.0),
    ]
    log = decision_log(events)
    assert [e["id"] for e in log] == [3, 2, 1]
    rollback, pause, start = log
    assert (rollback["reason"], rollback["failing"]) == ("errors: worse", ["errors"])
    assert rollback["evaluation"]["gates"][0]["verdict"] == "fail" and rollback["details"] == {}
    assert (pause["reason"], pause["evaluation"], pause["details"]) == ("looking", None, {"ticket": "OPS-1"})
    assert start["evaluation"] is None and start["details"] == {"gates": ["errors"], "sticky": "user"}
