"""LiteLLM's team API: ``/team/new``, ``/team/info``, ``/team/update``, ``/team/delete``,
``/team/list`` and the members: ``/team/member_add``, ``/team/member_update``,
``/team/member_delete``.

A LiteLLM team is an llmgate team: its id (``team_id``, a UUID when none is given) is the name the
CLI and ``/admin/teams`` use, and ``team_alias`` its display name. Its members are internal users
with a role (``admin`` or ``user``); a member named by a user id nobody has yet is created, as
LiteLLM does. A team's ``spend`` is what its keys' requests cost in its current budget period
(all time without one). Deleting a team revokes its keys. Bodies use LiteLLM's names
(``auth/litellm_fields.py``); the rules are ``auth/key_admin.py``'s and ``auth/user_admin.py``'s.
The master key or an admin key only.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from sqlalchemy.engine import Engine

from llmgate.auth import key_admin, user_admin
from llmgate.auth.key_fields import check_models
from llmgate.auth.litellm_fields import team_values
from llmgate.errors import InvalidRequest
from llmgate.server.litellm_common import (
    Admin,
    Store,
    actor,
    configured_models,
    key_view,
    keys_changed,
    needs_master_key,
    owner_spend,
    required,
    team_view,
    time_zone,
)
from llmgate.server.params import refuse_nul
from llmgate.store import keys as store
from llmgate.store import team_members, users
from llmgate.store.key_rows import NotFound, TeamRow

router = APIRouter(tags=["LiteLLM: teams"], dependencies=[Depends(refuse_nul)])
JsonBody = Annotated[dict[str, Any], Body()]


def _members(engine: Engine, team_id: str) -> list[dict[str, Any]]:
    people = {u.id: u for u in users.load_users(engine)}
    return [
        {
            "user_id": m.user_id,
            "user_email": people[m.user_id].email if m.user_id in people else None,
            "role": m.role,
        }
        for m in team_members.members_of(engine, team_id)
    ]


def _view(request: Request, engine: Engine, row: TeamRow) -> dict[str, Any]:
    spend = owner_spend(engine, "team", row.id, row.budget_period, time_zone(request))
    return team_view(row, spend, _members(engine, row.id))


def _team(engine: Engine, team_id: Any) -> TeamRow:
    row = store.get_team(engine, required(team_id, "team_id"))
    if row is None:
        raise NotFound(f"no team {team_id!r}", param="team_id")
    return row


def _member_list(value: Any) -> list[tuple[str, str | None]]:
    """LiteLLM's ``member`` (one or a list) or ``members_with_roles``: ``(user_id, role)`` pairs."""
    entries = value if isinstance(value, list) else [value]
    pairs = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("user_id"), str):
            raise InvalidRequest("member: each needs a user_id (and a role: admin or user)", param="member")
        pairs.append((entry["user_id"], entry.get("role")))
    return pairs


@router.post("/team/new", summary="LiteLLM: create a team")
def new_team(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    needs_master_key(request)
    team_id = body.get("team_id") or str(uuid.uuid4())
    fields = team_values(body, extra=frozenset({"members_with_roles"}))
    check_models(fields.get("models"), configured_models(request))
    members = _member_list(body["members_with_roles"]) if body.get("members_with_roles") else []
    row = key_admin.create_team(engine, team_id, actor=actor(identity), **fields)
    if members:
        user_admin.add_members(engine, row.id, members, actor=actor(identity))
    keys_changed(request)
    return _view(request, engine, row)


@router.get("/team/info", summary="LiteLLM: a team, its members, keys and spend")
def info(request: Request, identity: Admin, engine: Store, team_id: str | None = None) -> dict[str, Any]:
    row = _team(engine, team_id)
    tz = time_zone(request)
    keys = [k for k in store.load_keys(engine) if k.team_id == row.id and k.revoked_at is None]
    view = _view(request, engine, row)
    return {
        "team_id": row.id,
        "team_info": view,
        "keys": [key_view(k, owner_spend(engine, "key", k.id, k.budget_period, tz)) for k in keys],
        "team_memberships": [{"team_id": row.id, **m} for m in view["members_with_roles"]],
    }


@router.get("/team/list", summary="LiteLLM: list teams")
def list_teams(request: Request, identity: Admin, engine: Store) -> list[dict[str, Any]]:
    return [_view(request, engine, row) for row in store.load_teams(engine)]


@router.post("/team/update", summary="LiteLLM: change a team")
def update(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    team_id = _team(engine, body.get("team_id")).id
    fields = team_values(body)
    check_models(fields.get("models"), configured_models(request))
    row = key_admin.update_team(engine, team_id, actor=actor(identity), **fields)
    keys_changed(request)
    return {"team_id": row.id, "data": _view(request, engine, row)}


@router.post("/team/delete", summary="LiteLLM: delete teams (their keys revoked)")
def delete(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    ids = body.get("team_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise InvalidRequest("team_ids: name at least one team", param="team_ids")
    user_admin.delete_teams(engine, ids, actor=actor(identity))
    keys_changed(request)
    return {"deleted_teams": ids}


@router.post("/team/member_add", summary="LiteLLM: add members to a team")
def member_add(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    row = _team(engine, body.get("team_id"))
    added = user_admin.add_members(
        engine, row.id, _member_list(required(body.get("member"), "member")), actor=actor(identity)
    )
    keys_changed(request)
    view = _view(request, engine, row)
    return {
        **view,
        "updated_users": [{"user_id": m.user_id} for m in added],
        "updated_team_memberships": [
            {"team_id": row.id, "user_id": m.user_id, "role": m.role} for m in added
        ],
    }


def _member_id(engine: Engine, body: dict[str, Any]) -> str:
    """The member named by ``user_id``, or by ``user_email`` as LiteLLM also allows."""
    if isinstance(body.get("user_id"), str):
        return str(body["user_id"])
    email = required(body.get("user_email"), "user_id")
    matches = [u.id for u in users.load_users(engine) if u.email == email]
    if len(matches) != 1:
        raise NotFound(f"no single user with email {email!r}", param="user_email")
    return matches[0]


@router.post("/team/member_update", summary="LiteLLM: change a member's role")
def member_update(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    row = _team(engine, body.get("team_id"))
    member = user_admin.update_member(
        engine, row.id, _member_id(engine, body), body.get("role"), actor=actor(identity)
    )
    return {"team_id": row.id, "user_id": member.user_id, "role": member.role}


@router.post("/team/member_delete", summary="LiteLLM: take a member out of a team")
def member_delete(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    row = _team(engine, body.get("team_id"))
    user_admin.remove_members(engine, row.id, [_member_id(engine, body)], actor=actor(identity))
    keys_changed(request)
    return _view(request, engine, row)
