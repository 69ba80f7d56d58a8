"""Changing keys and teams (``auth/key_admin.py``) on a real SQLite store: values checked before
the store is touched, a budget's monthly default, the audit entries' contents, and which changes
end a key's dashboard sessions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.auth import key_admin
from llmgate.auth.keys import hash_key
from llmgate.errors import InvalidRequest
from llmgate.store.db import create_engine_for
from llmgate.store.keys import find_key, list_audit, load_keys
from llmgate.store.migrate import upgrade
from llmgate.store.models import table
from llmgate.store.sessions import session_live, start_session
from support.migrated import copy_migrated

ACTOR = "cli:tester"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    copy_migrated(f"sqlite:///{tmp_path / 'keys.db'}")  # migrated once per session (support/migrated.py)
    engine = create_engine_for(f"sqlite:///{tmp_path / 'keys.db'}")
    upgrade(engine)  # a no-op at head
    yield engine
    engine.dispose()


def raw_rows(engine: Engine, name: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table(name)))]


def test_issue_key_checks_defaults_and_audits_without_key_material(engine: Engine) -> None:
    key_admin.create_team(engine, "search", actor=ACTOR, budget_usd=Decimal("100"), rpm=600)
    key, row = key_admin.issue_key(
        engine,
        actor=ACTOR,
        alias="ci-bot",
        team_id="search",
        user_id="alice",
        models=["gpt-4o-mini", "claude-sonnet", "gpt-4o-mini"],
        budget_usd=Decimal("12.345"),
        rpm=60,
        tpm=10_000,
        tags={"cost_centre": "cc-42"},
        expires_at=datetime(2027, 1, 1),  # naive: UTC
    )
    assert row.models == ["gpt-4o-mini", "claude-sonnet"]
    assert row.budget_usd == Decimal("12.345") and row.budget_period == "monthly"  # monthly by default
    assert row.expires_at == datetime(2027, 1, 1, tzinfo=UTC) and not row.admin
    assert raw_rows(engine, "api_keys")[0]["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert find_key(engine, hash_key(key)) == row

    team, created = list_audit(engine)
    assert (team.action, team.target, created.action, created.target) == (
        "team.create",
        "search",
        "key.create",
        row.id,
    )
    assert team.changes == {
        "budget_usd": [None, "100"],
        "budget_period": [None, "monthly"],
        "rpm": [None, 600],
    }
    assert created.changes == {
        "alias": [None, "ci-bot"],
        "team_id": [None, "search"],
        "user_id": [None, "alice"],
        "models": [None, ["gpt-4o-mini", "claude-sonnet"]],
        "budget_usd": [None, "12.345"],
        "rpm": [None, 60],
        "tpm": [None, 10_000],
        "tags": [None, {"cost_centre": "cc-42"}],
        "expires_at": [None, "2027-01-01T00:00:00+00:00"],
        "budget_period": [None, "monthly"],
    }  # a plain key: no "admin"
    audit_text = str(raw_rows(engine, "audit_log"))
    assert key not in audit_text and hash_key(key) not in audit_text and "sk-lg-" not in audit_text


@pytest.mark.parametrize(
    "fields",
    [
        {"alias": "k", "budget_usd": Decimal("-1")},
        {"alias": "k", "rpm": 0},
        {"alias": "sk-lg-abcd"},
        {"alias": "k", "expires_at": datetime(2020, 1, 1)},  # born expired
        {"team_id": "t"},  # no alias
    ],
)
def test_bad_values_write_nothing(engine: Engine, fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        key_admin.issue_key(engine, actor=ACTOR, **fields)
    assert load_keys(engine) == [] and list_audit(engine) == []


def test_a_change_needs_someone_to_audit_it_as(engine: Engine) -> None:
    with pytest.raises(InvalidRequest) as exc:
        key_admin.issue_key(engine, actor="", alias="x")
    assert exc.value.param == "actor" and load_keys(engine) == []


def test_update_records_old_and_new_values_and_skips_no_ops(engine: Engine) -> None:
    key_admin.create_team(engine, "ml", actor=ACTOR)
    _, row = key_admin.issue_key(
        engine, actor=ACTOR, alias="svc", budget_usd=Decimal("10"), budget_period="daily"
    )
    updated = key_admin.update_key(
        engine, "svc", actor="api:master", budget_usd=Decimal("20.50"), rpm=5, team_id="ml", alias="svc2"
    )
    assert (updated.alias, updated.budget_usd, updated.budget_period) == ("svc2", Decimal("20.50"), "daily")
    assert updated.updated_at > row.updated_at
    last = list_audit(engine)[-1]
    assert (last.action, last.target, last.actor) == ("key.update", row.id, "api:master")
    assert last.changes == {
        "alias": ["svc", "svc2"],
        "team_id": [None, "ml"],
        "budget_usd": ["10", "20.5"],
        "rpm": [None, 5],
    }
    count = len(list_audit(engine))
    same = key_admin.update_key(engine, row.id, actor=ACTOR, budget_usd=Decimal("20.5000"), rpm=5)
    assert same.updated_at == updated.updated_at and len(list_audit(engine)) == count
    cleared = key_admin.update_key(engine, row.id, actor=ACTOR, budget_usd=None, rpm=None, tags=None)
    assert cleared.budget_usd is None and cleared.rpm is None and cleared.tags == {}
    assert list_audit(engine)[-1].changes == {"budget_usd": ["20.5", None], "rpm": [5, None]}
    with pytest.raises(InvalidRequest, match="rpm"):
        key_admin.update_key(engine, row.id, actor=ACTOR, rpm=0)


def test_a_cache_setting_is_stored_in_the_metadata_keeping_the_rest(engine: Engine) -> None:
    team = key_admin.create_team(engine, "ml", actor=ACTOR, metadata={"owner": "data"}, cache="off")
    assert team.metadata == {"owner": "data", "cache": False}
    _, row = key_admin.issue_key(engine, actor=ACTOR, alias="svc", cache="semantic")
    assert row.metadata == {"cache": {"semantic": True}}
    assert list_audit(engine)[-1].changes["metadata"] == [None, {"cache": {"semantic": True}}]
    key_admin.update_key(engine, "svc", actor=ACTOR, metadata={"owner": "ops", "cache": {"semantic": True}})
    off = key_admin.update_key(engine, "svc", actor=ACTOR, cache="off")
    assert off.metadata == {"owner": "ops", "cache": False}
    assert list_audit(engine)[-1].changes == {
        "metadata": [{"owner": "ops", "cache": {"semantic": True}}, {"owner": "ops", "cache": False}]
    }
    assert key_admin.update_key(engine, "svc", actor=ACTOR, cache=None).metadata == {"owner": "ops"}
    count = len(list_audit(engine))
    assert key_admin.update_key(engine, "svc", actor=ACTOR, cache="on").metadata == {"owner": "ops"}
    assert len(list_audit(engine)) == count  # nothing changed: nothing written
    team = key_admin.update_team(engine, "ml", actor=ACTOR, cache="semantic")
    assert team.metadata == {"owner": "data", "cache": {"semantic": True}}
    with pytest.raises(InvalidRequest) as exc:
        key_admin.update_team(engine, "ml", actor=ACTOR, cache="never")
    assert exc.value.param == "cache"


def test_update_team_gives_a_new_budget_the_monthly_period(engine: Engine) -> None:
    key_admin.create_team(engine, "search", actor=ACTOR, models=["a"], tags={"env": "prod"})
    team = key_admin.update_team(
        engine, "search", actor=ACTOR, budget_usd=Decimal("500"), tpm=1000, models=None
    )
    assert team.budget_usd == Decimal("500") and team.budget_period == "monthly" and team.models is None
    assert list_audit(engine, target="search")[-1].changes == {
        "models": [["a"], None],
        "budget_usd": [None, "500"],
        "budget_period": [None, "monthly"],
        "tpm": [None, 1000],
    }


def test_revoke_is_immediate_idempotent_and_ends_sessions(engine: Engine) -> None:
    _, row = key_admin.issue_key(engine, actor=ACTOR, alias="r")
    session = start_session(engine, row.id, 600)
    revoked = key_admin.revoke_key(engine, row.id, actor=ACTOR)
    assert revoked.revoked_at is not None and not revoked.usable_at(datetime.now(UTC))
    assert not session_live(engine, session, row.id)
    assert list_audit(engine)[-1].changes == {"revoked_at": [None, revoked.revoked_at.isoformat()]}
    again = key_admin.revoke_key(engine, "r", actor=ACTOR)
    assert again.revoked_at == revoked.revoked_at
    assert [e.action for e in list_audit(engine)] == ["key.create", "key.revoke"]


def test_rotate_replaces_the_secret_and_ends_sessions(engine: Engine) -> None:
    old_key, row = key_admin.issue_key(engine, actor=ACTOR, alias="rot", rpm=7, models=["m"])
    session = start_session(engine, row.id, 600)
    new_key, rotated = key_admin.rotate_key(engine, "rot", actor=ACTOR)
    assert (rotated.id, rotated.alias, rotated.rpm, rotated.models) == (row.id, "rot", 7, ["m"])
    assert find_key(engine, hash_key(old_key)) is None and find_key(engine, hash_key(new_key)) == rotated
    assert not session_live(engine, session, row.id)
    entry = list_audit(engine)[-1]
    assert (entry.action, entry.changes) == ("key.rotate", {"secret": ["previous", "new"]})
    key_admin.revoke_key(engine, row.id, actor=ACTOR)
    with pytest.raises(InvalidRequest, match="revoked") as exc:
        key_admin.rotate_key(engine, row.id, actor=ACTOR)
    assert exc.value.code == "key_revoked"


def test_sessions_end_with_the_admin_role_or_a_past_expiry(engine: Engine) -> None:
    _, row = key_admin.issue_key(engine, actor=ACTOR, alias="adm", admin=True)
    assert list_audit(engine)[-1].changes["admin"] == [None, True]
    session = start_session(engine, row.id, 600)
    key_admin.update_key(engine, row.id, actor=ACTOR, rpm=3)
    assert session_live(engine, session, row.id)  # an ordinary change leaves them
    key_admin.update_key(engine, row.id, actor=ACTOR, admin=False)
    assert not session_live(engine, session, row.id)
    session = start_session(engine, row.id, 600)
    key_admin.update_key(engine, row.id, actor=ACTOR, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    assert not session_live(engine, session, row.id)
