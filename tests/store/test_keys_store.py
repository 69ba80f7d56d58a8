"""Writes on keys and teams: checked values, hash-only storage, and one audit entry per change.

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
from llmgate.store.keys import NotFound, find_key, list_audit, load_keys
from llmgate.store.models import table

ACTOR = "cli:tester"


def new_key(engine: Engine, alias: str, **fields: Any) -> tuple[str, store.KeyRow]:
    key = generate_key()
    row = store.create_key(
        engine,
        key_hash=hash_key(key),
        key_prefix=display_prefix(key),
        actor=ACTOR,
        key_id=generate_key_id(),
        alias=alias,
        **fields,
    )
    return key, row


def raw_rows(engine: Engine, name: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table(name)))]


def test_create_key_stores_only_the_hash_and_audits_without_key_material(engine: Engine) -> None:
    store.create_team(engine, "search", actor=ACTOR, budget_usd=Decimal("100"), rpm=600)
    expires = datetime(2027, 1, 1)  # naive: UTC
    key, row = new_key(
        engine,
        "ci-bot",
        team_id="search",
        user_id="alice",
        models=["gpt-4o-mini", "claude-sonnet", "gpt-4o-mini"],
        budget_usd=Decimal("12.345"),
        rpm=60,
        tpm=10_000,
        tags={"cost_centre": "cc-42"},
        expires_at=expires,
    )
    assert row.alias == "ci-bot" and row.team_id == "search" and row.user_id == "alice"
    assert row.models == ["gpt-4o-mini", "claude-sonnet"]
    assert row.budget_usd == Decimal("12.345") and row.budget_period == "monthly"  # monthly by default
    assert (row.rpm, row.tpm, row.tags) == (60, 10_000, {"cost_centre": "cc-42"})
    assert row.expires_at == expires.replace(tzinfo=UTC)
    assert row.usable_at(datetime(2026, 12, 31, tzinfo=UTC))

    (stored,) = raw_rows(engine, "api_keys")
    assert stored["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert all(key not in str(value) for value in stored.values())
    assert stored["key_prefix"] == key[:10] and find_key(engine, hash_key(key)) == row

    entries = list_audit(engine)
    assert [(e.action, e.target, e.actor) for e in entries] == [
        ("team.create", "search", ACTOR),
        ("key.create", row.id, ACTOR),
    ]
    assert entries[0].changes == {
        "budget_usd": [None, "100"],
        "budget_period": [None, "monthly"],
        "rpm": [None, 600],
    }
    assert entries[1].changes["budget_usd"] == [None, "12.345"]
    assert entries[1].changes["expires_at"] == [None, "2027-01-01T00:00:00+00:00"]
    audit_text = str(raw_rows(engine, "audit_log"))
    assert key not in audit_text and stored["key_hash"] not in audit_text and "sk-lg-" not in audit_text


def test_unknown_team_or_taken_alias_writes_nothing(engine: Engine) -> None:
    with pytest.raises(InvalidRequest) as unknown:
        new_key(engine, "a", team_id="nope")
    assert unknown.value.code == "team_not_found" and unknown.value.status_code == 400
    new_key(engine, "a")
    with pytest.raises(InvalidRequest) as taken:
        new_key(engine, "a")
    assert taken.value.code == "alias_taken"
    assert len(load_keys(engine)) == 1
    assert [e.action for e in list_audit(engine)] == ["key.create"]
    store.create_team(engine, "t", actor=ACTOR)
    with pytest.raises(InvalidRequest, match="exists already"):
        store.create_team(engine, "t", actor=ACTOR)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("budget_usd", Decimal("-1")),
        ("budget_usd", Decimal("NaN")),
        ("budget_usd", Decimal("Infinity")),
        ("budget_usd", 1.5),  # money is never a float
        ("budget_usd", Decimal(10) ** 12),
        ("budget_period", "yearly"),
        ("rpm", 0),
        ("tpm", True),
        ("models", []),
        ("models", "gpt-4o"),
        ("tags", {"": "x"}),
        ("user_id", "  "),
    ],
)
def test_bad_values_are_refused(engine: Engine, field: str, value: Any) -> None:
    with pytest.raises(InvalidRequest) as exc:
        new_key(engine, "k", **{field: value})
    assert exc.value.param == field
    assert load_keys(engine) == [] and list_audit(engine) == []


@pytest.mark.parametrize("alias", ["", "sk-lg-abcd", "key_0123456789ab"])
def test_aliases_that_look_like_keys_are_refused(engine: Engine, alias: str) -> None:
    with pytest.raises(InvalidRequest):
        new_key(engine, alias)


def test_audit_entry_and_row_share_one_transaction(engine: Engine) -> None:
    key = generate_key()
    with pytest.raises(InvalidRequest):  # the audit entry fails (no actor): the key is not written
        store.create_key(engine, key_hash=hash_key(key), key_prefix="sk-lg-xxxx", actor="", alias="x")
    assert load_keys(engine) == [] and list_audit(engine) == []


def test_update_records_old_and_new_values_and_skips_no_ops(engine: Engine) -> None:
    store.create_team(engine, "ml", actor=ACTOR)
    _, row = new_key(engine, "svc", budget_usd=Decimal("10"), budget_period="daily")
    before = row.updated_at
    updated = store.update_key(
        engine, "svc", actor="api:master", budget_usd=Decimal("20.50"), rpm=5, team_id="ml", alias="svc2"
    )
    assert updated.id == row.id and updated.alias == "svc2" and updated.team_id == "ml"
    assert updated.budget_usd == Decimal("20.50") and updated.budget_period == "daily" and updated.rpm == 5
    assert updated.updated_at > before
    last = list_audit(engine)[-1]
    assert (last.action, last.target, last.actor) == ("key.update", row.id, "api:master")
    assert last.changes == {
        "alias": ["svc", "svc2"],
        "team_id": [None, "ml"],
        "budget_usd": ["10", "20.5"],
        "rpm": [None, 5],
    }

    count = len(list_audit(engine))
    same = store.update_key(engine, row.id, actor=ACTOR, budget_usd=Decimal("20.5000"), rpm=5)
    assert same.updated_at == updated.updated_at and len(list_audit(engine)) == count

    cleared = store.update_key(engine, row.id, actor=ACTOR, budget_usd=None, rpm=None, tags=None)
    assert cleared.budget_usd is None and cleared.rpm is None and cleared.tags == {}
    assert list_audit(engine)[-1].changes == {"budget_usd": ["20.5", None], "rpm": [5, None]}

    with pytest.raises(InvalidRequest, match="team"):
        store.update_key(engine, row.id, actor=ACTOR, team_id="missing")
    with pytest.raises(NotFound) as missing:
        store.update_key(engine, "no-such-key", actor=ACTOR, rpm=1)
    assert missing.value.status_code == 404


def test_update_team(engine: Engine) -> None:
    store.create_team(engine, "search", actor=ACTOR, models=["a"], tags={"env": "prod"})
    team = store.update_team(engine, "search", actor=ACTOR, budget_usd=Decimal("500"), tpm=1000, models=None)
    assert team.budget_usd == Decimal("500") and team.budget_period == "monthly" and team.models is None
    assert list_audit(engine, target="search")[-1].changes == {
        "models": [["a"], None],
        "budget_usd": [None, "500"],
        "budget_period": [None, "monthly"],
        "tpm": [None, 1000],
    }
    with pytest.raises(NotFound):
        store.update_team(engine, "nope", actor=ACTOR, rpm=1)


def test_revoke_is_immediate_and_idempotent(engine: Engine) -> None:
    key, row = new_key(engine, "r")
    revoked = store.revoke_key(engine, row.id, ACTOR)
    assert revoked.revoked_at is not None and not revoked.usable_at(datetime.now(UTC))
    found = find_key(engine, hash_key(key))
    assert found is not None and found.revoked_at == revoked.revoked_at
    assert raw_rows(engine, "api_keys")[0]["revoked_at"] is not None
    again = store.revoke_key(engine, "r", ACTOR)
    assert again.revoked_at == revoked.revoked_at
    assert [e.action for e in list_audit(engine)] == ["key.create", "key.revoke"]


def test_rotate_replaces_the_secret_and_keeps_everything_else(engine: Engine) -> None:
    old_key, row = new_key(engine, "rot", budget_usd=Decimal("5"), rpm=7, models=["m"])
    new = generate_key()
    rotated = store.rotate_key(engine, "rot", hash_key(new), display_prefix(new), ACTOR)
    assert (rotated.id, rotated.alias, rotated.budget_usd, rotated.rpm, rotated.models) == (
        row.id,
        "rot",
        row.budget_usd,
        7,
        ["m"],
    )
    assert find_key(engine, hash_key(old_key)) is None
    assert find_key(engine, hash_key(new)) == rotated
    assert raw_rows(engine, "api_keys")[0]["key_hash"] == hashlib.sha256(new.encode()).hexdigest()
    entry = list_audit(engine)[-1]
    assert entry.action == "key.rotate" and new not in str(entry) and hash_key(new) not in str(entry)

    store.revoke_key(engine, row.id, ACTOR)
    with pytest.raises(InvalidRequest, match="revoked"):
        store.rotate_key(engine, row.id, hash_key(generate_key()), "sk-lg-zzzz", ACTOR)


def test_list_audit_since_and_append_only(engine: Engine) -> None:
    store.create_team(engine, "a", actor=ACTOR)
    assert len(list_audit(engine, datetime.now(UTC) - timedelta(minutes=5))) == 1
    assert list_audit(engine, datetime.now(UTC) + timedelta(minutes=5)) == []
    public = [name for name in dir(store) if not name.startswith("_")]
    assert not [name for name in public if "audit" in name and not name.startswith("list")]
