"""Canaries in the store (store/canaries.py): each write with its event and audit entry, one active
canary per model, versions that refuse a stale write, the reads the CLI, API and follower use; on
SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.errors import InvalidRequest, StoreError
from llmgate.store import canaries as store
from llmgate.store import keys, team_members, users
from llmgate.store.audit import write_audit
from llmgate.store.canaries import (
    CanaryRow,
    active_version,
    canary_events,
    get_canary,
    insert_canary,
    list_canaries,
    save_evaluation,
    update_canary,
)
from llmgate.store.key_rows import NotFound
from llmgate.store.keys import list_audit
from llmgate.store.models import table

T0 = datetime(2026, 11, 15, 9, 30, 0, 250000, tzinfo=UTC)


def canary(canary_id: str = "chat-v2", model: str = "chat-model", **overrides: Any) -> CanaryRow:
    row = CanaryRow(
        id=canary_id,
        model=model,
        candidate={"model": "chat-model-v2", "deployment": None, "system_prompt": None, "params": {}},
        steps=(10.0, 50.0, 100.0),
        gates=("errors", "latency", "eval:evals/factual_qa.yaml"),
        sticky="user",
        alpha=0.05,
        min_step_requests=100,
        tolerances={"errors": 0.03},
        percent=10.0,
        source="cli",
        started_at=T0,
        step_started_at=T0,
    )
    return replace(row, **overrides)


def test_insert_reads_back_every_field_with_its_start_event_and_audit_entry(engine: Engine) -> None:
    row = canary(config_hash="ab" * 32, last_evaluation=[{"name": "errors", "verdict": "pass"}])
    stored = insert_canary(engine, row, actor="cli:alice")
    assert stored == replace(row, updated_at=stored.updated_at, version=1)
    assert stored.active and stored.updated_at >= T0
    assert get_canary(engine, "chat-v2") == stored
    (event,) = canary_events(engine, "chat-v2")
    assert (event["action"], event["actor"], event["percent"], event["at"]) == (
        "start",
        "cli:alice",
        10.0,
        stored.updated_at,
    )
    assert event["details"]["candidate"]["model"] == "chat-model-v2"
    assert event["details"]["steps"] == [10.0, 50.0, 100.0]
    (entry,) = list_audit(engine, target="chat-v2")
    assert (entry.action, entry.actor) == ("canary.start", "cli:alice")
    assert entry.changes["model"] == [None, "chat-model"]
    assert entry.changes["gates"] == [None, ["errors", "latency", "eval:evals/factual_qa.yaml"]]


def test_one_active_canary_per_model(engine: Engine) -> None:
    insert_canary(engine, canary(), actor="cli:a")
    with pytest.raises(InvalidRequest) as second:
        insert_canary(engine, canary("chat-v3"), actor="cli:a")
    assert second.value.code == "conflict" and "chat-v2" in str(second.value)
    with pytest.raises(InvalidRequest) as same_id:
        insert_canary(engine, canary(model="other-model"), actor="cli:a")
    assert same_id.value.code == "conflict"
    # a paused canary is active too; another model is free
    update_canary(engine, "chat-v2", actor="cli:a", action="pause", status="paused")
    with pytest.raises(InvalidRequest):
        insert_canary(engine, canary("chat-v3"), actor="cli:a")
    insert_canary(engine, canary("emb-v2", model="embed-model"), actor="cli:a")
    # once it ended, the model may have a new one
    update_canary(engine, "chat-v2", actor="controller", action="rollback", status="rolled_back", percent=0.0)
    insert_canary(engine, canary("chat-v3"), actor="cli:a")
    assert [c.id for c in list_canaries(engine, active_only=True)] == [
        "chat-v3",
        "emb-v2",
    ]  # same start: by id
    # nothing of the refused starts was written
    assert [e.action for e in list_audit(engine)].count("canary.start") == 3
    assert canary_events(engine, "chat-v3", actions=["start"])[0]["actor"] == "cli:a"


def test_the_database_refuses_a_second_active_canary_the_check_missed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two starts at once both pass the check: the partial unique index stops the second."""
    insert_canary(engine, canary(), actor="cli:a")
    monkeypatch.setattr(store, "_active_on", lambda conn, model: None)
    with pytest.raises(InvalidRequest) as raced:
        insert_canary(engine, canary("chat-v3"), actor="cli:b")
    assert raced.value.code == "conflict"
    assert [c.id for c in list_canaries(engine)] == ["chat-v2"]
    assert canary_events(engine, "chat-v3") == []
    # an ended canary on the model does not count
    insert_canary(engine, canary("old", status="cancelled"), actor="cli:b")


def test_update_bumps_the_version_with_its_event_and_audit_entry(engine: Engine) -> None:
    insert_canary(engine, canary(), actor="cli:a")
    later = T0 + timedelta(minutes=7)
    stepped = update_canary(
        engine,
        "chat-v2",
        actor="controller",
        action="step",
        expected_version=1,
        details={"gates": {"errors": "pass"}},
        step_index=1,
        percent=50.0,
        step_started_at=later,
    )
    assert (stepped.version, stepped.step_index, stepped.percent, stepped.step_started_at) == (
        2,
        1,
        50.0,
        later,
    )
    assert get_canary(engine, "chat-v2") == stepped
    step = canary_events(engine, "chat-v2")[-1]
    assert (step["action"], step["actor"], step["percent"], step["details"]) == (
        "step",
        "controller",
        50.0,
        {"gates": {"errors": "pass"}},
    )
    entry = list_audit(engine, target="chat-v2")[-1]
    assert entry.action == "canary.step" and entry.actor == "controller"
    assert entry.changes["step_index"] == [0, 1] and entry.changes["percent"] == [10.0, 50.0]
    assert entry.changes["details"] == {"gates": {"errors": "pass"}}
    # unchanged values are not audited as changes; steps given as a list equal the stored tuple
    update_canary(engine, "chat-v2", actor="cli:a", action="pause", status="paused", steps=[10, 50, 100])
    assert list_audit(engine, target="chat-v2")[-1].changes == {"status": ["running", "paused"]}


def test_a_stale_version_is_a_conflict_and_changes_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    insert_canary(engine, canary(), actor="cli:a")
    update_canary(engine, "chat-v2", actor="controller", action="step", step_index=1, percent=50.0)
    with pytest.raises(InvalidRequest) as stale:
        update_canary(
            engine, "chat-v2", actor="cli:a", action="rollback", expected_version=1, status="rolled_back"
        )
    assert stale.value.code == "conflict" and "version 2" in str(stale.value)
    # a write landing between the read and the update (simulated: the read returns the older row)
    current = get_canary(engine, "chat-v2")
    assert current is not None and current.version == 2
    real_select = store._select
    calls = iter([replace(current, version=1)])
    monkeypatch.setattr(store, "_select", lambda conn, ref: next(calls, None) or real_select(conn, ref))
    with pytest.raises(InvalidRequest) as raced:
        update_canary(engine, "chat-v2", actor="cli:a", action="pause", status="paused")
    assert raced.value.code == "conflict"
    monkeypatch.undo()
    after = get_canary(engine, "chat-v2")
    assert after == current
    assert [e["action"] for e in canary_events(engine, "chat-v2")] == ["start", "step"]
    assert [e.action for e in list_audit(engine, target="chat-v2")] == ["canary.start", "canary.step"]


def test_evaluations_are_events_without_audit_entries_and_saved_results_move_no_version(
    engine: Engine,
) -> None:
    insert_canary(engine, canary(), actor="cli:a")
    results = [{"name": "errors", "verdict": "undecided", "low": -0.01, "high": 0.04, "n_candidate": 31}]
    evaluated = update_canary(
        engine, "chat-v2", actor="controller", action="evaluate", details={"n": 31}, last_evaluation=results
    )
    assert evaluated.last_evaluation == results and evaluated.version == 2
    assert canary_events(engine, "chat-v2", actions=["evaluate"])[0]["details"] == {"n": 31}
    assert [e.action for e in list_audit(engine, target="chat-v2")] == ["canary.start"]
    probe = active_version(engine)
    newer = [{"name": "errors", "verdict": "pass"}]
    assert save_evaluation(engine, "chat-v2", newer) is True
    assert save_evaluation(engine, "nope", newer) is False
    saved = get_canary(engine, "chat-v2")
    assert saved is not None and saved.last_evaluation == newer and saved.version == 2
    assert active_version(engine) == probe
    assert len(canary_events(engine, "chat-v2")) == 2


def test_active_version_moves_on_every_write_even_when_one_ends_as_another_steps(engine: Engine) -> None:
    seen = [active_version(engine)]
    insert_canary(engine, canary("a", model="m1"), actor="t")
    seen.append(active_version(engine))
    insert_canary(engine, canary("b", model="m2"), actor="t")
    seen.append(active_version(engine))
    for _ in range(3):
        update_canary(engine, "a", actor="t", action="evaluate")
    seen.append(active_version(engine))
    # "a" (version 4) steps while "b" ends: a max-over-active-plus-count probe reads 5 + 1 both
    # before (4 + 2) and after (5 + 1) and would miss both changes
    update_canary(engine, "a", actor="t", action="step", percent=50.0)
    update_canary(engine, "b", actor="t", action="cancel", status="cancelled")
    seen.append(active_version(engine))
    assert seen == sorted(set(seen)), seen


def test_get_by_id_or_model_and_list(engine: Engine) -> None:
    insert_canary(engine, canary("v1", started_at=T0), actor="t")
    update_canary(engine, "v1", actor="t", action="promote", status="promoted", percent=100.0)
    insert_canary(engine, canary("v2", started_at=T0 + timedelta(hours=1)), actor="t")
    update_canary(engine, "v2", actor="t", action="rollback", status="rolled_back", percent=0.0)
    latest = get_canary(engine, "chat-model")
    assert latest is not None and latest.id == "v2"  # none active: the latest
    insert_canary(engine, canary("v0", started_at=T0 - timedelta(hours=1)), actor="t")
    active = get_canary(engine, "chat-model")
    assert active is not None and active.id == "v0"  # the active one, though older
    assert get_canary(engine, "nothing") is None
    insert_canary(engine, canary("e1", model="embed", started_at=T0), actor="t")
    assert [c.id for c in list_canaries(engine)] == ["v0", "e1", "v1", "v2"]  # by start time, then id
    assert [c.id for c in list_canaries(engine, model="chat-model")] == ["v0", "v1", "v2"]
    assert [c.id for c in list_canaries(engine, active_only=True, model="chat-model")] == ["v0"]
    assert [c.id for c in list_canaries(engine, active_only=True)] == ["v0", "e1"]


def test_refusals_before_the_store(engine: Engine) -> None:
    insert_canary(engine, canary(), actor="t")
    with pytest.raises(NotFound):
        update_canary(engine, "nope", actor="t", action="pause", status="paused")
    with pytest.raises(TypeError, match="version"):
        update_canary(engine, "chat-v2", actor="t", action="step", version=9)
    with pytest.raises(ValueError, match="status"):
        update_canary(engine, "chat-v2", actor="t", action="step", status="finished")
    with pytest.raises(ValueError, match="action"):
        update_canary(engine, "chat-v2", actor="t", action="explode")
    with pytest.raises(ValueError, match="source"):
        insert_canary(engine, canary("x", model="m", source="yaml"), actor="t")
    with pytest.raises(ValueError, match="step"):
        insert_canary(engine, canary("x", model="m", steps=()), actor="t")
    assert len(list_canaries(engine)) == 1


def test_store_failures_are_store_errors(empty_engine: Engine) -> None:
    """A store without the tables (never migrated): every function says so as a StoreError."""
    with pytest.raises(StoreError):
        insert_canary(empty_engine, canary(), actor="t")
    with pytest.raises(StoreError):
        update_canary(empty_engine, "chat-v2", actor="t", action="pause")
    for read in (
        lambda: get_canary(empty_engine, "x"),
        lambda: list_canaries(empty_engine),
        lambda: canary_events(empty_engine, "x"),
        lambda: active_version(empty_engine),
        lambda: store.evidence_rows(empty_engine, "x", None),
        lambda: store.quality_rows(empty_engine, "x", None),
    ):
        with pytest.raises(StoreError):
            read()


def test_the_audit_log_has_one_writer(engine: Engine) -> None:
    """Keys, users, team members and canaries all append through store/audit.py."""
    for module in (keys, users, team_members, store):
        assert write_audit in vars(module).values(), module.__name__
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table("audit_log"))).scalar_one() == 0
