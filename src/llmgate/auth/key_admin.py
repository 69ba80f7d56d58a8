"""Changing keys and teams, once for every surface (the CLI and the admin API).

The rules live here and in ``auth/key_fields.py``; the store only inserts, reads and writes what
it is given (``store/keys.py``). Each function checks its values (a refusal is an
``InvalidRequest`` naming the field; a new key cannot be born expired), gives a budget without a
period the monthly one, writes the audit entry's values as JSON (money as exact text, times as
ISO 8601; never a key, a prefix or a hash) and says when a key's dashboard sessions end: when it
is revoked or rotated, loses the admin role, or is given an expiry already past. A ``cache``
setting (on, off, semantic) is written into the row's ``metadata.cache``, its other entries kept.

A key is made here (``auth/keys.py``: 256 random bits, a public ``key_...`` id), stored by its
hash and display prefix only, and handed back with its row, so the caller can show it this one
time. Rotating gives the same key a new secret; the previous one stops working at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy.engine import Engine

from llmgate.auth.key_fields import (
    KEY_FIELDS,
    TEAM_FIELDS,
    KeyFields,
    TeamFields,
    bad,
    check_fields,
    check_new_expiry,
    default_period,
    no_nul,
    plain,
    text,
    with_cache,
)
from llmgate.auth.keys import display_prefix, generate_key, generate_key_id, hash_key
from llmgate.errors import InvalidRequest
from llmgate.store import keys as store
from llmgate.store.key_rows import Change, KeyRow, TeamRow

__all__ = ["create_team", "issue_key", "revoke_key", "rotate_key", "update_key", "update_team"]


def _actor(actor: str) -> str:
    """Who a change is audited as (``cli:<os user>``, ``api:master``...): a non-empty name."""
    return text("actor", actor)


def _created(fields: Mapping[str, Any]) -> dict[str, list[Any]]:
    """A new row's audit entry: each field given a value, from nothing."""
    return {k: [None, plain(v)] for k, v in fields.items() if v is not None and v != {}}


def _changed(old: KeyRow | TeamRow, fields: Mapping[str, Any], *, end_sessions: bool = False) -> Change:
    """The fields that differ from the row, with their audit entry (old and new as JSON values)."""
    audit = {k: [plain(getattr(old, k)), plain(v)] for k, v in fields.items() if getattr(old, k) != v}
    return Change(values={k: fields[k] for k in audit}, audit=audit, end_sessions=end_sessions)


def _cache_in_metadata(values: dict[str, Any], metadata: Mapping[str, Any] | None) -> None:
    """A ``cache`` setting said as ``metadata.cache``, in the metadata given or else ``metadata``
    (the row's): its other entries are kept."""
    if "cache" in values:
        values["metadata"] = with_cache(values.get("metadata", metadata), values.pop("cache"))


# --- teams ------------------------------------------------------------------------------------


def create_team(engine: Engine, team_id: str, *, actor: str, **limits: Unpack[TeamFields]) -> TeamRow:
    """A new team; its id is its name (the CLI's ``--alias``)."""
    team_id = text("alias", no_nul("alias", team_id))
    fields = check_fields({"tags": None, **limits}, TEAM_FIELDS)
    default_period(fields)
    _cache_in_metadata(fields, None)
    return store.create_team(engine, team_id, actor=_actor(actor), values=fields, audit=_created(fields))


def update_team(engine: Engine, team_id: str, *, actor: str, **changes: Unpack[TeamFields]) -> TeamRow:
    """Change the given fields (``None`` clears one); nothing is written when none differs."""
    fields = check_fields(changes, TEAM_FIELDS)

    def decide(old: TeamRow, now: datetime) -> Change:
        values = dict(fields)
        default_period(values, old.budget_period)
        _cache_in_metadata(values, old.metadata)
        return _changed(old, values)

    return store.change_team(engine, team_id, actor=_actor(actor), action="team.update", decide=decide)


# --- keys -------------------------------------------------------------------------------------


def issue_key(engine: Engine, *, actor: str, **fields: Unpack[KeyFields]) -> tuple[str, KeyRow]:
    """A new key with ``fields`` (``key_fields.KeyFields``): the key itself, shown only now, and its row."""
    if "alias" not in fields:
        raise bad("alias", "a key needs an alias")
    values = check_fields({"tags": None, **fields}, KEY_FIELDS)
    check_new_expiry(values.get("expires_at"))
    default_period(values)
    _cache_in_metadata(values, None)
    audit = _created(values)
    if not values.get("admin"):
        audit.pop("admin", None)  # a plain key: nothing to say
    key = generate_key()
    row = store.create_key(
        engine,
        key_id=generate_key_id(),
        key_hash=hash_key(key),
        key_prefix=display_prefix(key),
        actor=_actor(actor),
        values=values,
        audit=audit,
    )
    return key, row


def update_key(engine: Engine, key_ref: str, *, actor: str, **changes: Unpack[KeyFields]) -> KeyRow:
    """Change the given fields of the key whose id or alias is ``key_ref`` (``None`` clears one).

    Its dashboard sessions end with its admin role, or its life (an expiry already past)."""
    fields = check_fields(changes, KEY_FIELDS)

    def decide(old: KeyRow, now: datetime) -> Change:
        values = dict(fields)
        default_period(values, old.budget_period)
        _cache_in_metadata(values, old.metadata)
        expires = values.get("expires_at")
        ends = ("admin" in values and not values["admin"]) or (expires is not None and expires <= now)
        return _changed(old, values, end_sessions=ends)

    return store.change_key(engine, key_ref, actor=_actor(actor), action="key.update", decide=decide)


def revoke_key(engine: Engine, key_ref: str, *, actor: str) -> KeyRow:
    """Revoke at once; its dashboard sessions end with it, on every replica. Idempotent: a key
    revoked already stays as it was, with no new entry."""

    def decide(old: KeyRow, now: datetime) -> Change:
        if old.revoked_at is not None:
            return Change(end_sessions=True)
        return Change({"revoked_at": now}, {"revoked_at": [None, plain(now)]}, end_sessions=True)

    return store.change_key(engine, key_ref, actor=_actor(actor), action="key.revoke", decide=decide)


def rotate_key(engine: Engine, key_ref: str, *, actor: str) -> tuple[str, KeyRow]:
    """A new secret for the key whose id or alias is ``key_ref`` (same id, alias and limits): the
    new key and the key's row. The previous secret, and sessions opened with it, end at once."""
    key = generate_key()

    def decide(old: KeyRow, now: datetime) -> Change:
        if old.revoked_at is not None:
            raise InvalidRequest(f"key {old.id} is revoked: create a new key instead", code="key_revoked")
        secret = {"key_hash": hash_key(key), "key_prefix": display_prefix(key)}
        return Change(secret, {"secret": ["previous", "new"]}, end_sessions=True)

    return key, store.change_key(engine, key_ref, actor=_actor(actor), action="key.rotate", decide=decide)
