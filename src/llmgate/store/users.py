"""Queries and writes on internal users (LiteLLM's ``/user/...``): people or services that own keys.

An internal user has its own budget, limits, model allow-list and metadata (table
``internal_users``, migration 0009); the keys whose ``user_id`` it is spend from its budget, as a
team's keys spend from the team's (``auth/enforce.py``). As in ``store/keys.py``, the store
inserts, reads and writes what ``auth/user_admin.py`` decided, each write with its audit entry
(``user.create``, ``user.update``, ``user.delete``) in one transaction. Deleting a user also
ends its team memberships and revokes its keys (their rows stay, for spend history), as
LiteLLM's ``/user/delete`` removes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from llmgate.errors import InvalidRequest
from llmgate.store.audit import transaction, write_audit
from llmgate.store.key_rows import Change, NotFound, json_value
from llmgate.store.models import table
from llmgate.store.sessions import end_sessions_of


@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    email: str | None
    role: str
    models: list[str] | None  # None: every model (subject to its keys' and teams' lists)
    budget_usd: Decimal | None
    budget_period: str | None
    rpm: int | None
    tpm: int | None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


def user_from_row(row: Any) -> UserRow:
    m = row._mapping
    return UserRow(
        id=m["id"],
        email=m["email"],
        role=m["role"],
        models=json_value(m["models_json"]),
        budget_usd=m["budget_usd"],
        budget_period=m["budget_period"],
        rpm=m["rpm"],
        tpm=m["tpm"],
        metadata=json_value(m["metadata_json"]) or {},
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _columns(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "models" in out:
        models = out.pop("models")
        out["models_json"] = orjson.dumps(models).decode() if models is not None else None
    if "metadata" in out:
        metadata = out.pop("metadata")
        out["metadata_json"] = orjson.dumps(metadata).decode() if metadata else None
    return out


def load_users(engine: Engine) -> list[UserRow]:
    users = table("internal_users")
    with engine.connect() as conn:
        return [user_from_row(r) for r in conn.execute(sa.select(users).order_by(users.c.id))]


def select_user(conn: Connection, user_id: str, *, lock: bool = False) -> UserRow | None:
    users = table("internal_users")
    query = sa.select(users).where(users.c.id == user_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return user_from_row(row) if row is not None else None


def _user(conn: Connection, user_id: str, *, lock: bool = False) -> UserRow:
    row = select_user(conn, user_id, lock=lock)
    if row is None:
        raise NotFound(f"no user with id {user_id!r}", param="user_id")
    return row


def get_user(engine: Engine, user_id: str) -> UserRow | None:
    with engine.connect() as conn:
        return select_user(conn, user_id)


def insert_user(
    conn: Connection,
    user_id: str,
    at: datetime,
    actor: str,
    values: Mapping[str, Any],
    audit: Mapping[str, Any],
) -> None:
    """A new user row and its ``user.create`` entry (inside the caller's transaction)."""
    if select_user(conn, user_id) is not None:
        raise InvalidRequest(
            f"a user with id {user_id!r} exists already", param="user_id", code="user_exists"
        )
    conn.execute(
        sa.insert(table("internal_users")).values(
            id=user_id, created_at=at, updated_at=at, **_columns(values)
        )
    )
    write_audit(conn, at, actor, "user.create", user_id, audit)


def create_user(
    engine: Engine, user_id: str, *, actor: str, values: Mapping[str, Any], audit: Mapping[str, Any]
) -> UserRow:
    """Insert a user with valid ``values`` (``auth/user_admin.py`` checked them) and its entry."""
    with transaction(engine) as conn:
        insert_user(conn, user_id, datetime.now(UTC), actor, values, audit)
        return _user(conn, user_id)


def change_user(
    engine: Engine, user_id: str, *, actor: str, decide: Callable[[UserRow, datetime], Change]
) -> UserRow:
    """Lock the user, ``decide`` what changes from the row as it is, write it with its entry."""
    users = table("internal_users")
    with transaction(engine) as conn:
        old = _user(conn, user_id, lock=True)
        at = datetime.now(UTC)
        change = decide(old, at)
        if change.values:
            values = _columns(change.values)
            conn.execute(sa.update(users).where(users.c.id == old.id).values(updated_at=at, **values))
            write_audit(conn, at, actor, "user.update", old.id, change.audit)
        return _user(conn, old.id)


def revoke_keys_where(conn: Connection, where: sa.ColumnElement[bool], at: datetime, actor: str) -> list[str]:
    """Revoke the usable keys matching ``where`` (each with its ``key.revoke`` entry, its
    dashboard sessions ended); the ids revoked."""
    keys = table("api_keys")
    ids = [r[0] for r in conn.execute(sa.select(keys.c.id).where(where, keys.c.revoked_at.is_(None)))]
    for key_id in ids:
        conn.execute(sa.update(keys).where(keys.c.id == key_id).values(revoked_at=at, updated_at=at))
        write_audit(conn, at, actor, "key.revoke", key_id, {"revoked_at": [None, at.isoformat()]})
        end_sessions_of(conn, key_id)
    return ids


def delete_users(engine: Engine, user_ids: Sequence[str], *, actor: str) -> list[str]:
    """Delete each user (all or none: an unknown id is a 404), its memberships, and revoke its keys."""
    users, members, keys = table("internal_users"), table("team_members"), table("api_keys")
    with transaction(engine) as conn:
        at = datetime.now(UTC)
        for user_id in user_ids:
            _user(conn, user_id, lock=True)
        for user_id in user_ids:
            revoked = revoke_keys_where(conn, keys.c.user_id == user_id, at, actor)
            conn.execute(sa.delete(members).where(members.c.user_id == user_id))
            conn.execute(sa.delete(users).where(users.c.id == user_id))
            write_audit(
                conn, at, actor, "user.delete", user_id, {"keys_revoked": [None, revoked]} if revoked else {}
            )
        # the registry notices a deletion by its count; a key revoked moves api_keys' marker
        return list(user_ids)
