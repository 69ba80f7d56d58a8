"""Queries and writes on virtual keys, teams and the audit log.

Keys are stored as their SHA-256 only (``auth/keys.py`` makes and hashes them). Rows come back
as frozen dataclasses; JSON columns (model allow-lists, tags) are decoded here, so callers never
see them as text. Every admin change (``create_team``, ``update_team``, ``create_key``,
``update_key``, ``revoke_key``, ``rotate_key``) checks its values, then writes the row and its
audit entry in one transaction: who, when, which fields went from what to what, never a key,
a prefix or a hash. The audit log is append-only: this module offers no way to change or
delete an entry. Each value is checked by ``store/key_fields.py`` (a new key cannot be created
already expired). Revoking or rotating a key, or taking its admin role away, also ends its
dashboard sessions. The CLI and the admin API are thin callers of these functions (the field
limits they show, ``MAX_NAME`` and ``MAX_BUDGET``, are re-exported here). A key with
``admin`` set is an admin key: it may use the admin API and the dashboard as the master key does.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Unpack

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from llmgate.errors import InvalidRequest, StoreError
from llmgate.store.db import describe_error
from llmgate.store.key_fields import (
    KEY_FIELDS,
    TEAM_FIELDS,
    KeyFields,
    Limits,
    bad,
    check_fields,
    check_secret,
    default_period,
    no_nul,
    plain,
    text,
)
from llmgate.store.key_fields import MAX_BUDGET as MAX_BUDGET
from llmgate.store.key_fields import MAX_NAME as MAX_NAME
from llmgate.store.key_fields import check_new_expiry as check_new_expiry
from llmgate.store.key_fields import money_text as money_text
from llmgate.store.key_rows import AuditRow as AuditRow
from llmgate.store.key_rows import KeyRow as KeyRow
from llmgate.store.key_rows import NotFound as NotFound
from llmgate.store.key_rows import TeamRow as TeamRow
from llmgate.store.key_rows import json_value, key_from_row, team_from_row
from llmgate.store.models import table
from llmgate.store.sessions import end_sessions_of


def load_keys(engine: Engine) -> list[KeyRow]:
    """Every key, revoked and expired ones included."""
    keys = table("api_keys")
    with engine.connect() as conn:
        return [key_from_row(r) for r in conn.execute(sa.select(keys).order_by(keys.c.created_at))]


def load_teams(engine: Engine) -> list[TeamRow]:
    teams = table("teams")
    with engine.connect() as conn:
        return [team_from_row(r) for r in conn.execute(sa.select(teams).order_by(teams.c.id))]


def find_key(engine: Engine, key_hash: str) -> KeyRow | None:
    keys = table("api_keys")
    with engine.connect() as conn:
        row = conn.execute(sa.select(keys).where(keys.c.key_hash == key_hash)).first()
    return key_from_row(row) if row is not None else None


def keys_version(engine: Engine) -> tuple[Any, ...]:
    """A cheap marker that changes whenever a key or team is created or changed."""
    keys, teams = table("api_keys"), table("teams")
    with engine.connect() as conn:
        k = conn.execute(sa.select(sa.func.count(), sa.func.max(keys.c.updated_at))).one()
        t = conn.execute(sa.select(sa.func.count(), sa.func.max(teams.c.updated_at))).one()
    return (*k, *t)


# --- writes: each checks its values and appends its audit entry in the same transaction ----


def _columns(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "models" in out:
        models = out.pop("models")
        out["models_json"] = orjson.dumps(models).decode() if models is not None else None
    if "tags" in out:
        tags = out.pop("tags")
        out["tags_json"] = orjson.dumps(tags).decode() if tags else None
    return out


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.begin() as conn:
            yield conn
    except IntegrityError as exc:
        raise InvalidRequest(f"conflicting change: {describe_error(exc)}", code="conflict") from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"store write failed: {describe_error(exc)}") from exc


def _audit(conn: Connection, at: datetime, actor: str, action: str, target: str, changes: Any) -> None:
    conn.execute(
        sa.insert(table("audit_log")).values(
            at=at,
            actor=text("actor", actor),
            action=action,
            target=target,
            changes_json=orjson.dumps(changes).decode() if changes else None,
        )
    )


def _select_key(conn: Connection, ref: str, *, lock: bool = False) -> KeyRow | None:
    keys = table("api_keys")
    for column in (keys.c.id, keys.c.alias):
        query = sa.select(keys).where(column == ref)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is not None:
            return key_from_row(row)
    return None


def _key(conn: Connection, ref: str, *, lock: bool = False) -> KeyRow:
    row = _select_key(conn, ref, lock=lock)
    if row is None:
        raise NotFound(f"no key with id or alias {ref!r}", param="key")
    return row


def _select_team(conn: Connection, team_id: str, *, lock: bool = False) -> TeamRow | None:
    teams = table("teams")
    query = sa.select(teams).where(teams.c.id == team_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return team_from_row(row) if row is not None else None


def _team(conn: Connection, team_id: str, *, lock: bool = False) -> TeamRow:
    row = _select_team(conn, team_id, lock=lock)
    if row is None:
        raise NotFound(f"no team named {team_id!r}", param="team")
    return row


def _check_key_refs(conn: Connection, fields: Mapping[str, Any], own_id: str | None = None) -> None:
    """The alias is free and the team exists."""
    keys = table("api_keys")
    if "alias" in fields:
        holder = conn.execute(sa.select(keys.c.id).where(keys.c.alias == fields["alias"])).scalar()
        if holder is not None and holder != own_id:
            raise InvalidRequest(
                f"a key with alias {fields['alias']!r} exists already", param="alias", code="alias_taken"
            )
    team_id = fields.get("team_id")
    if team_id is not None and _select_team(conn, team_id) is None:
        raise InvalidRequest(
            f"no team named {team_id!r}: create the team first", param="team_id", code="team_not_found"
        )


def _update(conn: Connection, kind: str, old: KeyRow | TeamRow, fields: dict[str, Any], actor: str) -> None:
    """Write the fields that differ and their audit entry; nothing at all when none differs."""
    changes = {k: [plain(getattr(old, k)), plain(v)] for k, v in fields.items() if getattr(old, k) != v}
    if changes:
        at = datetime.now(UTC)
        rows = table("api_keys" if kind == "key" else "teams")
        values = _columns({k: fields[k] for k in changes})
        conn.execute(sa.update(rows).where(rows.c.id == old.id).values(updated_at=at, **values))
        _audit(conn, at, actor, f"{kind}.update", old.id, changes)


def get_key(engine: Engine, ref: str) -> KeyRow | None:
    """The key whose id, or else whose alias, is ``ref``."""
    with engine.connect() as conn:
        return _select_key(conn, ref)


def get_team(engine: Engine, team_id: str) -> TeamRow | None:
    with engine.connect() as conn:
        return _select_team(conn, team_id)


def create_team(engine: Engine, team_id: str, *, actor: str, **limits: Unpack[Limits]) -> TeamRow:
    """A new team; its id is its name (the CLI's ``--alias``)."""
    team_id = text("alias", no_nul("alias", team_id))
    fields = check_fields({"tags": None, **limits}, TEAM_FIELDS)
    default_period(fields)
    at = datetime.now(UTC)
    with _transaction(engine) as conn:
        if _select_team(conn, team_id) is not None:
            raise InvalidRequest(
                f"a team named {team_id!r} exists already", param="alias", code="team_exists"
            )
        values = _columns(fields)
        conn.execute(sa.insert(table("teams")).values(id=team_id, created_at=at, updated_at=at, **values))
        changes = {k: [None, plain(v)] for k, v in fields.items() if v is not None and v != {}}
        _audit(conn, at, actor, "team.create", team_id, changes)
        return _team(conn, team_id)


def update_team(engine: Engine, team_id: str, *, actor: str, **changes: Unpack[Limits]) -> TeamRow:
    """Change the given fields (``None`` clears one)."""
    fields = check_fields(changes, TEAM_FIELDS)
    with _transaction(engine) as conn:
        old = _team(conn, team_id, lock=True)
        default_period(fields, old.budget_period)
        _update(conn, "team", old, fields, actor)
        return _team(conn, old.id)


def create_key(
    engine: Engine,
    *,
    key_hash: str,
    key_prefix: str,
    actor: str,
    key_id: str | None = None,
    **fields: Unpack[KeyFields],
) -> KeyRow:
    """Store a new key by its SHA-256 hex (``auth.keys.hash_key``): the key never gets here."""
    check_secret(key_hash, key_prefix)
    if "alias" not in fields:
        raise bad("alias", "a key needs an alias")
    values = check_fields({"tags": None, **fields}, KEY_FIELDS)
    check_new_expiry(values.get("expires_at"))
    default_period(values)
    key_id = key_id or "key_" + secrets.token_hex(6)
    at = datetime.now(UTC)
    with _transaction(engine) as conn:
        _check_key_refs(conn, values)
        conn.execute(
            sa.insert(table("api_keys")).values(
                id=key_id,
                key_hash=key_hash,
                key_prefix=key_prefix,
                created_at=at,
                updated_at=at,
                **_columns(values),
            )
        )
        changes = {k: [None, plain(v)] for k, v in values.items() if v is not None and v != {}}
        if not values.get("admin"):
            changes.pop("admin", None)  # a plain key: nothing to say
        _audit(conn, at, actor, "key.create", key_id, changes)
        return _key(conn, key_id)


def update_key(engine: Engine, key_ref: str, *, actor: str, **changes: Unpack[KeyFields]) -> KeyRow:
    """Change the given fields of the key whose id or alias is ``key_ref`` (``None`` clears one)."""
    fields = check_fields(changes, KEY_FIELDS)
    with _transaction(engine) as conn:
        old = _key(conn, key_ref, lock=True)
        _check_key_refs(conn, fields, old.id)
        default_period(fields, old.budget_period)
        _update(conn, "key", old, fields, actor)
        expires = fields.get("expires_at")
        if ("admin" in fields and not fields["admin"]) or (
            expires is not None and expires <= datetime.now(UTC)
        ):
            end_sessions_of(conn, old.id)  # its dashboard sessions end with its role (or its life)
        return _key(conn, old.id)


def revoke_key(engine: Engine, key_ref: str, actor: str) -> KeyRow:
    """Revoke at once. Idempotent: a key revoked already stays as it was, with no new entry."""
    at = datetime.now(UTC)
    keys = table("api_keys")
    with _transaction(engine) as conn:
        old = _key(conn, key_ref, lock=True)
        if old.revoked_at is None:
            conn.execute(sa.update(keys).where(keys.c.id == old.id).values(revoked_at=at, updated_at=at))
            _audit(conn, at, actor, "key.revoke", old.id, {"revoked_at": [None, plain(at)]})
        end_sessions_of(conn, old.id)  # its dashboard sessions end with it, on every replica
        return _key(conn, old.id)


def rotate_key(engine: Engine, key_ref: str, new_hash: str, new_prefix: str, actor: str) -> KeyRow:
    """A new secret for the key (same id, alias and limits); the old one stops working at once."""
    check_secret(new_hash, new_prefix)
    at = datetime.now(UTC)
    keys = table("api_keys")
    with _transaction(engine) as conn:
        old = _key(conn, key_ref, lock=True)
        if old.revoked_at is not None:
            raise InvalidRequest(f"key {old.id} is revoked: create a new key instead", code="key_revoked")
        new = {"key_hash": new_hash, "key_prefix": new_prefix, "updated_at": at}
        conn.execute(sa.update(keys).where(keys.c.id == old.id).values(**new))
        _audit(conn, at, actor, "key.rotate", old.id, {"secret": ["previous", "new"]})
        end_sessions_of(conn, old.id)  # sessions opened with the previous secret end with it
        return _key(conn, old.id)


def list_audit(engine: Engine, since: datetime | None = None, *, target: str | None = None) -> list[AuditRow]:
    """Audit entries in the order they were written, from ``since`` (inclusive), for one target."""
    log = table("audit_log")
    query = sa.select(log).order_by(log.c.id)
    if since is not None:
        query = query.where(log.c.at >= since)
    if target is not None:
        query = query.where(log.c.target == target)
    with engine.connect() as conn:
        rows = [r._mapping for r in conn.execute(query)]
    return [
        AuditRow(m["id"], m["at"], m["actor"], m["action"], m["target"], json_value(m["changes_json"]) or {})
        for m in rows
    ]
