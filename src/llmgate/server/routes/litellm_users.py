"""LiteLLM's internal-user API: ``/user/new``, ``/user/info``, ``/user/update``, ``/user/delete``,
``/user/list``.

An internal user owns keys and has its own budget (``max_budget`` per ``budget_duration``),
limits and model allow-list, enforced on its keys' requests as a team's are
(``auth/enforce.py``; a request over the user's budget is refused with 429 naming the user).
``/user/new`` also makes the user a key, as LiteLLM does (``auto_create_key``, default true; the
secret is in that answer only), and may add the user to ``teams``. A user's ``spend`` is what the
requests of its keys cost in its current budget period (all time without one). Bodies use
LiteLLM's names (``auth/litellm_fields.py``); the rules are ``auth/user_admin.py``'s. The master
key or an admin key only. Deleting a user revokes its keys.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from sqlalchemy.engine import Engine

from llmgate.auth import key_admin, user_admin
from llmgate.auth.key_fields import check_models
from llmgate.auth.litellm_fields import key_values, user_values
from llmgate.errors import InvalidRequest
from llmgate.server.litellm_common import (
    Admin,
    Store,
    actor,
    configured_models,
    duration,
    key_view,
    keys_changed,
    needs_master_key,
    number,
    owner_spend,
    required,
    time_zone,
    when,
)
from llmgate.server.params import refuse_nul
from llmgate.store import keys as store
from llmgate.store import team_members, users
from llmgate.store.key_rows import NotFound
from llmgate.store.users import UserRow

router = APIRouter(tags=["LiteLLM: internal users"], dependencies=[Depends(refuse_nul)])
JsonBody = Annotated[dict[str, Any], Body()]
#: /user/new fields about the key it makes, not the user
_KEY_ONLY = frozenset({"key_alias", "duration", "aliases", "max_parallel_requests"})
_NEW_ONLY = frozenset({"teams", "auto_create_key", "send_invite_email", "user_alias"})


def user_view(request: Request, engine: Engine, row: UserRow) -> dict[str, Any]:
    tz = time_zone(request)
    return {
        "user_id": row.id,
        "user_email": row.email,
        "user_role": row.role,
        "teams": [m.team_id for m in team_members.teams_of(engine, row.id)],
        "models": row.models or [],
        "max_budget": number(row.budget_usd),
        "budget_duration": duration(row.budget_period),
        "spend": float(owner_spend(engine, "user", row.id, row.budget_period, tz)),
        "tpm_limit": row.tpm,
        "rpm_limit": row.rpm,
        "metadata": row.metadata,
        "created_at": when(row.created_at),
        "updated_at": when(row.updated_at),
    }


def _user(engine: Engine, user_id: Any) -> UserRow:
    row = users.get_user(engine, required(user_id, "user_id"))
    if row is None:
        raise NotFound(f"no user with id {user_id!r}", param="user_id")
    return row


@router.post("/user/new", summary="LiteLLM: create an internal user (and a key for it)")
def new_user(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    needs_master_key(request)
    user_id = body.get("user_id") or str(uuid.uuid4())
    fields = user_values(body, extra=_KEY_ONLY | _NEW_ONLY)
    check_models(fields.get("models"), configured_models(request))
    teams = body.get("teams") or []
    if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
        raise InvalidRequest("teams: must be a list of team ids", param="teams")
    for team_id in teams:
        if store.get_team(engine, team_id) is None:
            raise InvalidRequest(f"teams: no team {team_id!r}", param="teams", code="team_not_found")
    make_key = body.get("auto_create_key", True) is not False
    key_fields: dict[str, Any] = {}
    if make_key:  # checked before the user is made, so a refused key leaves no user behind
        key_body = {k: body[k] for k in _KEY_ONLY if k in body}
        key_fields = key_values({**key_body, "user_id": user_id}, creating=True)
        if store.get_key(engine, key_fields["alias"]) is not None:
            raise InvalidRequest(f"key_alias: {key_fields['alias']!r} is taken", param="key_alias")
    row = user_admin.create_user(engine, user_id, actor=actor(identity), **fields)
    for team_id in teams:
        user_admin.add_members(engine, team_id, [(row.id, "user")], actor=actor(identity))
    answer: dict[str, Any] = {"key": None, "key_name": None, "expires": None, "token": None}
    if make_key:
        key, key_row = key_admin.issue_key(engine, actor=actor(identity), **key_fields)
        view = key_view(key_row, owner_spend(engine, "key", key_row.id, None, time_zone(request)))
        answer = {"key": key, **{k: view[k] for k in ("key_name", "expires", "token", "key_alias")}}
    keys_changed(request)
    return {**user_view(request, engine, row), **answer}


@router.get("/user/info", summary="LiteLLM: a user, its keys, teams and spend")
def info(request: Request, identity: Admin, engine: Store, user_id: str | None = None) -> dict[str, Any]:
    row = _user(engine, user_id)
    tz = time_zone(request)
    keys = [k for k in store.load_keys(engine) if k.user_id == row.id and k.revoked_at is None]
    teams = [store.get_team(engine, m.team_id) for m in team_members.teams_of(engine, row.id)]
    return {
        "user_id": row.id,
        "user_info": user_view(request, engine, row),
        "keys": [key_view(k, owner_spend(engine, "key", k.id, k.budget_period, tz)) for k in keys],
        "teams": [{"team_id": t.id, "team_alias": t.alias} for t in teams if t is not None],
    }


@router.post("/user/update", summary="LiteLLM: change a user")
def update(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    user_id = _user(engine, body.get("user_id")).id
    fields = user_values(body)
    check_models(fields.get("models"), configured_models(request))
    row = user_admin.update_user(engine, user_id, actor=actor(identity), **fields)
    keys_changed(request)
    return {"user_id": row.id, "data": user_view(request, engine, row)}


@router.post("/user/delete", summary="LiteLLM: delete users (their keys revoked)")
def delete(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    ids = body.get("user_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise InvalidRequest("user_ids: name at least one user", param="user_ids")
    deleted = user_admin.delete_users(engine, ids, actor=actor(identity))
    keys_changed(request)
    return {"deleted_users": deleted}


@router.get("/user/list", summary="LiteLLM: list internal users")
def list_users(
    request: Request, identity: Admin, engine: Store, page: int = 1, page_size: int = 25
) -> dict[str, Any]:
    if page < 1 or not 1 <= page_size <= 100:
        raise InvalidRequest("page must be at least 1 and page_size from 1 to 100", param="page_size")
    rows = users.load_users(engine)
    chunk = rows[(page - 1) * page_size : page * page_size]
    return {
        "users": [user_view(request, engine, r) for r in chunk],
        "total": len(rows),
        "page": page,
        "page_size": page_size,
        "total_pages": max(1, -(-len(rows) // page_size)),
    }
