"""A team's members (internal users with a role in it), and deleting teams.

LiteLLM's ``/team/member_add``, ``/team/member_update``, ``/team/member_delete`` and
``/team/delete`` write here (table ``team_members``, migration 0009). A member named by a user id
no user has yet is created as an ``internal_user`` in the same transaction, as LiteLLM does. Each
write has its audit entry (``team.member_add``, ``team.member_update``, ``team.member_delete``,
``team.delete``) in its transaction. Deleting a team deletes its memberships and revokes its keys
(their rows stay for spend history; a key of a deleted team would otherwise lose the team's
limits in silence). The roles themselves are checked above the store (``auth/user_admin.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from llmgate.errors import InvalidRequest
from llmgate.store.audit import transaction, write_audit
from llmgate.store.key_rows import NotFound
from llmgate.store.keys import _team
from llmgate.store.models import table
from llmgate.store.users import insert_user, revoke_keys_where

#: the role a user created as a team member has
NEW_MEMBER_ROLE = "internal_user"


@dataclass(frozen=True, slots=True)
class MemberRow:
    team_id: str
    user_id: str
    role: str  # admin | user
    created_at: datetime


def _member(row: sa.Row[Any]) -> MemberRow:
    m = row._mapping
    return MemberRow(m["team_id"], m["user_id"], m["role"], m["created_at"])


def _select(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    m = table("team_members")
    return sa.select(m.c.team_id, m.c.user_id, m.c.role, m.c.created_at).where(*where)


def members_of(engine: Engine, team_id: str) -> list[MemberRow]:
    m = table("team_members")
    with engine.connect() as conn:
        return [_member(r) for r in conn.execute(_select(m.c.team_id == team_id).order_by(m.c.created_at))]


def teams_of(engine: Engine, user_id: str) -> list[MemberRow]:
    m = table("team_members")
    with engine.connect() as conn:
        return [_member(r) for r in conn.execute(_select(m.c.user_id == user_id).order_by(m.c.team_id))]


def all_members(engine: Engine) -> list[MemberRow]:
    m = table("team_members")
    with engine.connect() as conn:
        return [_member(r) for r in conn.execute(_select().order_by(m.c.team_id, m.c.created_at))]


def add_members(
    engine: Engine, team_id: str, members: Sequence[tuple[str, str]], *, actor: str, create_users: bool = True
) -> list[MemberRow]:
    """Add ``(user_id, role)`` members to the team (a user already in it is refused: 400); users
    that do not exist are created (``internal_user``). The team's members afterwards."""
    m = table("team_members")
    with transaction(engine) as conn:
        _team(conn, team_id, lock=True)
        at = datetime.now(UTC)
        for user_id, role in members:
            if conn.execute(_select(m.c.team_id == team_id, m.c.user_id == user_id)).first() is not None:
                raise InvalidRequest(
                    f"user {user_id!r} is a member of team {team_id!r} already",
                    param="member",
                    code="member_exists",
                )
            _ensure_user(conn, user_id, at, actor, create_users)
            conn.execute(sa.insert(m).values(team_id=team_id, user_id=user_id, role=role, created_at=at))
            write_audit(
                conn,
                at,
                actor,
                "team.member_add",
                team_id,
                {"member": [None, {"user_id": user_id, "role": role}]},
            )
        return [_member(r) for r in conn.execute(_select(m.c.team_id == team_id).order_by(m.c.created_at))]


def _ensure_user(conn: Connection, user_id: str, at: datetime, actor: str, create: bool) -> None:
    users = table("internal_users")
    if conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is not None:
        return
    if not create:
        raise NotFound(f"no user with id {user_id!r}", param="user_id")
    insert_user(conn, user_id, at, actor, {"role": NEW_MEMBER_ROLE}, {"role": [None, NEW_MEMBER_ROLE]})


def update_member(engine: Engine, team_id: str, user_id: str, role: str, *, actor: str) -> MemberRow:
    m = table("team_members")
    with transaction(engine) as conn:
        old = _one_member(conn, team_id, user_id)
        if old.role != role:
            conn.execute(sa.update(m).where(m.c.team_id == team_id, m.c.user_id == user_id).values(role=role))
            write_audit(
                conn, datetime.now(UTC), actor, "team.member_update", team_id, {user_id: [old.role, role]}
            )
        return _one_member(conn, team_id, user_id)


def remove_members(engine: Engine, team_id: str, user_ids: Sequence[str], *, actor: str) -> None:
    """Take the users out of the team (each must be a member: 404 otherwise). Their keys stay."""
    m = table("team_members")
    with transaction(engine) as conn:
        at = datetime.now(UTC)
        for user_id in user_ids:
            _one_member(conn, team_id, user_id)
            conn.execute(sa.delete(m).where(m.c.team_id == team_id, m.c.user_id == user_id))
            write_audit(conn, at, actor, "team.member_delete", team_id, {"member": [user_id, None]})


def _one_member(conn: Connection, team_id: str, user_id: str) -> MemberRow:
    m = table("team_members")
    row = conn.execute(_select(m.c.team_id == team_id, m.c.user_id == user_id)).first()
    if row is None:
        raise NotFound(f"user {user_id!r} is not a member of team {team_id!r}", param="user_id")
    return _member(row)


def delete_teams(engine: Engine, team_ids: Sequence[str], *, actor: str) -> dict[str, list[str]]:
    """Delete each team (all or none: an unknown id is a 404) with its memberships; revoke its
    keys. The ids of the keys revoked, per team."""
    teams, m, keys = table("teams"), table("team_members"), table("api_keys")
    revoked: dict[str, list[str]] = {}
    with transaction(engine) as conn:
        at = datetime.now(UTC)
        for team_id in team_ids:
            _team(conn, team_id, lock=True)
        for team_id in team_ids:
            revoked[team_id] = revoke_keys_where(conn, keys.c.team_id == team_id, at, actor)
            conn.execute(sa.delete(m).where(m.c.team_id == team_id))
            conn.execute(sa.delete(teams).where(teams.c.id == team_id))
            changes: Mapping[str, object] = (
                {"keys_revoked": [None, revoked[team_id]]} if revoked[team_id] else {}
            )
            write_audit(conn, at, actor, "team.delete", team_id, changes)
    return revoked
