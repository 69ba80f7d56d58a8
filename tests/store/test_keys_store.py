"""Writes on keys and teams as the store does them: it stores what it is given, hash-only, with the
audit entry it is handed, in one transaction. (What a value may be, and what a change and its
audit entry say, is ``auth/``'s: tests/auth/test_key_fields.py and test_key_admin.py.)

Runs on SQLite and, with LLMGATE_TEST_DATABASE_URL, on PostgreSQL (fixtures in conftest.py).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.auth.keys import display_prefix, generate_key, generate_key_id, hash_key
from llmgate.errors import InvalidRequest
from llmgate.store import keys as store
from llmgate.store.keys import Change, NotFound, find_key, list_audit, load_keys
from llmgate.store.models import table
from llmgate.store.sessions import session_live, start_session

ACTOR = "cli:tester"


def new_key(
    engine: Engine, alias: str, audit: dict[str, Any] | None = None, **values: Any
) -> tuple[str, store.KeyRow]:
    key = generate_key()
    row = store.create_key(
        engine,
        key_id=generate_key_id(),
        key_hash=hash_key(key),
        key_prefix=display_prefix(key),
        actor=ACTOR,
        values={"alias": alias, **values},
        audit=audit or {},
    )
    return key, row


def raw_rows(engine: Engine, name: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table(name)))]


def test_create_key_stores_only_the_hash_and_the_audit_entry_it_is_given(engine: Engine) -> None:
    store.create_team(engine, "search", actor=ACTOR, values={"rpm": 600}, audit={"rpm": [None, 600]})
    expires = datetime(2027, 1, 1, tzinfo=UTC)
    key, row = new_key(
        engine,
        "ci-bot",
        audit={"budget_usd": [None, "12.345"]},
        team_id="search",
        models=["gpt-4o-mini", "claude-sonnet"],
        budget_usd=Decimal("12.345"),
        budget_period="daily",
        tags={"cost_centre": "cc-42"},
        expires_at=expires,
    )
    assert (row.alias, row.team_id, row.models) == ("ci-bot", "search", ["gpt-4o-mini", "claude-sonnet"])
    assert (row.budget_usd, row.budget_period, row.tags) == (
        Decimal("12.345"),
        "daily",
        {"cost_centre": "cc-42"},
    )
    assert row.expires_at == expires and row.usable_at(datetime(2026, 12, 31, tzinfo=UTC))

    (stored,) = raw_rows(engine, "api_keys")
    assert stored["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert all(key not in str(value) for value in stored.values())
    assert stored["key_prefix"] == key[:10] and find_key(engine, hash_key(key)) == row

    entries = list_audit(engine)
    assert [(e.action, e.target, e.actor, e.changes) for e in entries] == [
        ("team.create", "search", ACTOR, {"rpm": [None, 600]}),
        ("key.create", row.id, ACTOR, {"budget_usd": [None, "12.345"]}),
    ]


def test_store_refuses_a_key_in_place_of_its_hash(engine: Engine) -> None:
    key = generate_key()
    with pytest.raises(ValueError, match="never the key"):
        store.create_key(
            engine,
            key_id="key_000000000001",
            key_hash=key,
            key_prefix="sk-lg-x",
            actor=ACTOR,
            values={"alias": "x"},
            audit={},
        )
    _, row = new_key(engine, "r")
    with pytest.raises(ValueError, match="never the key"):
        store.change_key(
            engine,
            row.id,
            actor=ACTOR,
            action="key.rotate",
            decide=lambda old, now: Change({"key_hash": key, "key_prefix": "sk-lg-x"}),
        )
    assert load_keys(engine)[0].key_hash == row.key_hash


def test_unknown_team_or_taken_alias_writes_nothing(engine: Engine) -> None:
    with pytest.raises(InvalidRequest) as unknown:
        new_key(engine, "a", team_id="nope")
    assert unknown.value.code == "team_not_found" and unknown.value.status_code == 400
    new_key(engine, "a")
    with pytest.raises(InvalidRequest) as taken:
        new_key(engine, "a")
    assert taken.value.code == "alias_taken"
    _, b = new_key(engine, "b")
    with pytest.raises(InvalidRequest) as renamed:
        store.change_key(
            engine, b.id, actor=ACTOR, action="key.update", decide=lambda old, now: Change({"alias": "a"})
        )
    assert renamed.value.code == "alias_taken"
    assert len(load_keys(engine)) == 2
    assert [e.action for e in list_audit(engine)] == ["key.create", "key.create"]
    store.create_team(engine, "t", actor=ACTOR, values={}, audit={})
    with pytest.raises(InvalidRequest, match="exists already"):
        store.create_team(engine, "t", actor=ACTOR, values={}, audit={})


def test_audit_entry_and_row_share_one_transaction(engine: Engine) -> None:
    with pytest.raises(TypeError):  # the audit entry cannot be written: the key is not written either
        new_key(engine, "x", audit={"budget_usd": [None, object()]})
    assert load_keys(engine) == [] and list_audit(engine) == []


def test_change_writes_its_values_and_entry_or_nothing(engine: Engine) -> None:
    _, row = new_key(engine, "svc", rpm=5)
    seen: list[tuple[str, datetime]] = []

    def decide(old: store.KeyRow, now: datetime) -> Change:
        seen.append((old.alias, now))
        return Change({"rpm": 6, "models": ["m"]}, {"rpm": [5, 6]})

    changed = store.change_key(engine, "svc", actor="api:master", action="key.update", decide=decide)
    assert [alias for alias, _ in seen] == ["svc"]  # the row as it was, locked
    assert (changed.rpm, changed.models, changed.updated_at) == (6, ["m"], seen[0][1])
    last = list_audit(engine)[-1]
    assert (last.action, last.target, last.actor, last.changes) == (
        "key.update",
        row.id,
        "api:master",
        {"rpm": [5, 6]},
    )

    count = len(list_audit(engine))
    same = store.change_key(
        engine, row.id, actor=ACTOR, action="key.update", decide=lambda old, now: Change()
    )
    assert same.updated_at == changed.updated_at and len(list_audit(engine)) == count
    with pytest.raises(NotFound) as missing:
        store.change_key(engine, "no-such-key", actor=ACTOR, action="key.update", decide=decide)
    assert missing.value.status_code == 404

    store.create_team(engine, "ml", actor=ACTOR, values={"tags": {"env": "prod"}}, audit={})
    team = store.change_team(
        engine,
        "ml",
        actor=ACTOR,
        action="team.update",
        decide=lambda old, now: Change({"tags": {}}, {"tags": 1}),
    )
    assert team.tags == {} and list_audit(engine, target="ml")[-1].changes == {"tags": 1}
    with pytest.raises(NotFound):
        store.change_team(engine, "nope", actor=ACTOR, action="team.update", decide=lambda old, now: Change())


def test_a_change_ends_the_keys_sessions_when_it_says_so(engine: Engine) -> None:
    _, row = new_key(engine, "s")
    session = start_session(engine, row.id, 600)
    store.change_key(
        engine, row.id, actor=ACTOR, action="key.update", decide=lambda old, now: Change({"rpm": 1})
    )
    assert session_live(engine, session, row.id)
    store.change_key(
        engine, row.id, actor=ACTOR, action="key.revoke", decide=lambda old, now: Change(end_sessions=True)
    )
    assert not session_live(engine, session, row.id)


def test_list_audit_since_and_append_only(engine: Engine) -> None:
    store.create_team(engine, "a", actor=ACTOR, values={}, audit={})
    assert len(list_audit(engine, datetime.now(UTC) - timedelta(minutes=5))) == 1
    assert list_audit(engine, datetime.now(UTC) + timedelta(minutes=5)) == []
    public = [name for name in dir(store) if not name.startswith("_")]
    assert not [name for name in public if "audit" in name and not name.startswith("list")]
