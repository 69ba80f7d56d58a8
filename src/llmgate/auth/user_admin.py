"""Changing internal users and team memberships, with the same rules as keys and teams.

An internal user (LiteLLM's ``/user/new``) owns keys (``api_keys.user_id``) and has its own
budget, limits and model allow-list, checked by ``auth/key_fields.py``'s rules as a team's are (a
budget without a period is monthly); its role is one of LiteLLM's user roles and is a label
(llmgate's admin role belongs to keys: ``auth/key_admin.py``). A team member's role is ``admin``
or ``user``. Each function checks its values, writes the audit entry's values as JSON (money as
exact text) and hands the store (``store/users.py``, ``store/team_members.py``) valid values only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy.engine import Engine

from llmgate.auth.key_fields import bad, check_fields, default_period, no_nul, plain, text
from llmgate.store import team_members, users
from llmgate.store.key_rows import Change
from llmgate.store.team_members import MemberRow
from llmgate.store.users import UserRow

__all__ = [
    "MEMBER_ROLES",
    "USER_ROLES",
    "UserFields",
    "add_members",
    "create_user",
    "delete_teams",
    "delete_users",
    "remove_members",
    "update_member",
    "update_user",
]

#: LiteLLM's user roles (a label in llmgate); the first is what a user gets by default
USER_ROLES = (
    "internal_user",
    "internal_user_viewer",
    "proxy_admin",
    "proxy_admin_viewer",
    "team",
    "customer",
)
MEMBER_ROLES = ("user", "admin")
_LIMITS = frozenset({"models", "budget_usd", "budget_period", "rpm", "tpm", "metadata"})


class UserFields(TypedDict, total=False):
    email: str | None
    role: str
    models: list[str] | None
    budget_usd: Any
    budget_period: str | None
    rpm: int | None
    tpm: int | None
    metadata: Mapping[str, Any] | None


def _checked(given: Mapping[str, Any]) -> dict[str, Any]:
    fields = dict(given)
    if "role" in fields:
        role = fields["role"] if fields["role"] is not None else USER_ROLES[0]
        if role not in USER_ROLES:
            raise bad("user_role", f"must be one of {', '.join(USER_ROLES)}")
        fields["role"] = role
    if fields.get("email") is not None:
        fields["email"] = text("user_email", no_nul("user_email", fields["email"]))
    limits = check_fields({k: v for k, v in fields.items() if k in _LIMITS}, _LIMITS)
    if unknown := set(fields) - _LIMITS - {"role", "email"}:
        raise TypeError(f"unknown fields: {', '.join(sorted(unknown))}")
    return {**fields, **limits}


def _created(fields: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {k: [None, plain(v)] for k, v in fields.items() if v is not None and v != {}}


def create_user(engine: Engine, user_id: str, *, actor: str, **fields: Unpack[UserFields]) -> UserRow:
    """A new user; without a role, ``internal_user``."""
    user_id = text("user_id", no_nul("user_id", user_id))
    values = _checked({"role": USER_ROLES[0], **fields})
    default_period(values)
    return users.create_user(
        engine, user_id, actor=text("actor", actor), values=values, audit=_created(values)
    )


def update_user(engine: Engine, user_id: str, *, actor: str, **changes: Unpack[UserFields]) -> UserRow:
    """Change the given fields (``None`` clears one); nothing is written when none differs."""
    fields = _checked(changes)

    def decide(old: UserRow, now: datetime) -> Change:
        values = dict(fields)
        default_period(values, old.budget_period)
        audit = {k: [plain(getattr(old, k)), plain(v)] for k, v in values.items() if getattr(old, k) != v}
        return Change(values={k: values[k] for k in audit}, audit=audit)

    return users.change_user(engine, user_id, actor=text("actor", actor), decide=decide)


def delete_users(engine: Engine, user_ids: Sequence[str], *, actor: str) -> list[str]:
    """Delete the users (their memberships with them; their keys revoked)."""
    if not user_ids:
        raise bad("user_ids", "name at least one user")
    return users.delete_users(engine, [text("user_ids", u) for u in user_ids], actor=text("actor", actor))


def _role(role: str | None) -> str:
    role = role or MEMBER_ROLES[0]
    if role not in MEMBER_ROLES:
        raise bad("role", f"must be one of {', '.join(MEMBER_ROLES)}")
    return role


def add_members(
    engine: Engine, team_id: str, members: Sequence[tuple[str, str | None]], *, actor: str
) -> list[MemberRow]:
    """Add ``(user_id, role)`` members (role ``user`` by default); unknown users are created."""
    if not members:
        raise bad("member", "name at least one member")
    checked = [(text("user_id", no_nul("user_id", user)), _role(role)) for user, role in members]
    return team_members.add_members(engine, team_id, checked, actor=text("actor", actor))


def update_member(engine: Engine, team_id: str, user_id: str, role: str | None, *, actor: str) -> MemberRow:
    return team_members.update_member(engine, team_id, user_id, _role(role), actor=text("actor", actor))


def remove_members(engine: Engine, team_id: str, user_ids: Sequence[str], *, actor: str) -> None:
    if not user_ids:
        raise bad("user_id", "name the member to remove")
    team_members.remove_members(engine, team_id, list(user_ids), actor=text("actor", actor))


def delete_teams(engine: Engine, team_ids: Sequence[str], *, actor: str) -> dict[str, list[str]]:
    """Delete the teams (their memberships with them; their keys revoked)."""
    if not team_ids:
        raise bad("team_ids", "name at least one team")
    return team_members.delete_teams(engine, list(team_ids), actor=text("actor", actor))
