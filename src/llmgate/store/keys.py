"""Queries and writes on virtual keys, teams and the audit log.

Keys are stored as their SHA-256 only (``auth/keys.py`` makes and hashes them). Rows come back
as frozen dataclasses; JSON columns (model allow-lists, tags) are decoded here, so callers never
see them as text. The store inserts and reads: what a value may be, what a change is and how its
audit entry reads are decided above it (``auth/key_fields.py``, ``auth/key_admin.py``), which
hands over valid values. Every write (``create_team``, ``create_key``, ``change_team``,
``change_key``) puts the row and its audit entry in one transaction: who, when, which fields went
from what to what, never a key, a prefix or a hash. A change is decided from the row as it is,
locked (``Change``), and may end the key's dashboard sessions in the same transaction. The store
still refuses what only it can see: a taken alias, a team that does not exist, a key or team
that does not exist, and a key's secret handed over in place of its hash. The audit log is
append-only: this module offers no way to change or delete an entry.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from llmgate.errors import InvalidRequest
from llmgate.store.audit import transaction as _transaction
from llmgate.store.audit import write_audit as _write_audit
from llmgate.store.key_rows import AuditRow as AuditRow
from llmgate.store.key_rows import Change as Change
from llmgate.store.key_rows import KeyRow as KeyRow
from llmgate.store.key_rows import NotFound as NotFound
from llmgate.store.key_rows import TeamRow as TeamRow
from llmgate.store.key_rows import json_value, key_from_row, team_from_row
from llmgate.store.models import table
from llmgate.store.sessions import end_sessions_of

_SHA256 = re.compile(r"[0-9a-f]{64}")


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


def access_version(engine: Engine) -> tuple[Any, ...]:
    """A cheap marker that changes whenever a key, team or user is created, changed or deleted:
    each table's row count and latest update, in one query (the gateway asks four times a second)."""
    with engine.connect() as conn:
        return tuple(conn.execute(_access_version_query()).one())


@functools.cache
def _access_version_query() -> sa.Select[Any]:
    markers = []
    for name in ("api_keys", "teams", "internal_users"):
        rows = table(name)
        markers.append(sa.select(sa.func.count()).select_from(rows).scalar_subquery())
        markers.append(sa.select(sa.func.max(rows.c.updated_at)).scalar_subquery())
    return sa.select(*markers)


# --- writes: each row and its audit entry in the same transaction ---------------------------


def _check_secret(key_hash: str, key_prefix: str) -> None:
    """Guard against a caller handing over the key itself instead of its hash or prefix."""
    if not _SHA256.fullmatch(key_hash) or not 0 < len(key_prefix) <= 16:
        raise ValueError("expected the key's SHA-256 hex digest and a short display prefix, never the key")


def _columns(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "models" in out:
        models = out.pop("models")
        out["models_json"] = orjson.dumps(models).decode() if models is not None else None
    for name in ("tags", "metadata", "aliases"):  # JSON objects; empty is NULL
        if name in out:
            value = out.pop(name)
            out[f"{name}_json"] = orjson.dumps(value).decode() if value else None
    return out


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


def get_key(engine: Engine, ref: str) -> KeyRow | None:
    """The key whose id, or else whose alias, is ``ref``."""
    with engine.connect() as conn:
        return _select_key(conn, ref)


def get_team(engine: Engine, team_id: str) -> TeamRow | None:
    with engine.connect() as conn:
        return _select_team(conn, team_id)


def create_team(
    engine: Engine, team_id: str, *, actor: str, values: Mapping[str, Any], audit: Mapping[str, Any]
) -> TeamRow:
    """Insert a team (its id is its name) with valid ``values`` and its ``team.create`` entry."""
    at = datetime.now(UTC)
    with _transaction(engine) as conn:
        if _select_team(conn, team_id) is not None:
            raise InvalidRequest(
                f"a team named {team_id!r} exists already", param="alias", code="team_exists"
            )
        conn.execute(
            sa.insert(table("teams")).values(id=team_id, created_at=at, updated_at=at, **_columns(values))
        )
        _write_audit(conn, at, actor, "team.create", team_id, audit)
        return _team(conn, team_id)


def create_key(
    engine: Engine,
    *,
    key_id: str,
    key_hash: str,
    key_prefix: str,
    actor: str,
    values: Mapping[str, Any],
    audit: Mapping[str, Any],
) -> KeyRow:
    """Insert a key by its SHA-256 hex (``auth.keys.hash_key``: the key never gets here) with
    valid ``values`` (an ``alias`` among them) and its ``key.create`` entry."""
    _check_secret(key_hash, key_prefix)
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
        _write_audit(conn, at, actor, "key.create", key_id, audit)
        return _key(conn, key_id)


def _write(
    conn: Connection, kind: str, old: KeyRow | TeamRow, change: Change, at: datetime, actor: str, action: str
) -> None:
    """The change's values and its audit entry; nothing at all when it has no values."""
    if change.values:
        rows = table("api_keys" if kind == "key" else "teams")
        values = _columns(change.values)
        conn.execute(sa.update(rows).where(rows.c.id == old.id).values(updated_at=at, **values))
        _write_audit(conn, at, actor, action, old.id, change.audit)


def change_team(
    engine: Engine, team_id: str, *, actor: str, action: str, decide: Callable[[TeamRow, datetime], Change]
) -> TeamRow:
    """Lock the team, ``decide`` what changes from the row as it is (and now), write it."""
    with _transaction(engine) as conn:
        old = _team(conn, team_id, lock=True)
        at = datetime.now(UTC)
        _write(conn, "team", old, decide(old, at), at, actor, action)
        return _team(conn, old.id)


def change_key(
    engine: Engine, key_ref: str, *, actor: str, action: str, decide: Callable[[KeyRow, datetime], Change]
) -> KeyRow:
    """Lock the key whose id or alias is ``key_ref``, ``decide`` what changes from the row as it
    is (and now), write it, and end the key's dashboard sessions if the change says so."""
    with _transaction(engine) as conn:
        old = _key(conn, key_ref, lock=True)
        at = datetime.now(UTC)
        change = decide(old, at)
        if "key_hash" in change.values:
            _check_secret(change.values["key_hash"], change.values.get("key_prefix", ""))
        _check_key_refs(conn, change.values, old.id)
        _write(conn, "key", old, change, at, actor, action)
        if change.end_sessions:
            end_sessions_of(conn, old.id)  # on every replica, in the same transaction
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
