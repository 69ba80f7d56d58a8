"""LiteLLM's key management API on llmgate's keys: ``/key/generate``, ``/key/info``, ``/key/update``,
``/key/delete``, ``/key/list``, ``/key/regenerate``.

For scripts written against LiteLLM's proxy. Bodies use LiteLLM's field names, translated by
``auth/litellm_fields.py`` (a ``budget_duration`` llmgate cannot keep, or a LiteLLM field it does
not implement, is a 400 naming it) and checked by the same rules as ``/admin/keys``
(``auth/key_admin.py``: every change audited, as ``litellm-api:master`` or the admin key's id).
The secret is in the answer to ``/key/generate`` and ``/key/regenerate`` only; elsewhere a key is
its ``token`` (llmgate's key id) and ``key_name`` (its first characters). Deleting a key revokes
it (its row stays, for spend history); a deleted key is then unknown to these routes (404), as in
LiteLLM. The master key or an admin key may use every route; any key may read its own
``/key/info``. Handlers are plain functions: FastAPI runs them, and their store calls, in threads.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from llmgate.auth import key_admin
from llmgate.auth.key_fields import check_models
from llmgate.auth.litellm_fields import key_values
from llmgate.errors import InvalidRequest, PermissionDenied
from llmgate.server.litellm_common import (
    Admin,
    Caller,
    Store,
    actor,
    configured_models,
    find_key,
    key_view,
    keys_changed,
    needs_master_key,
    owner_spend,
    required,
    time_zone,
)
from llmgate.server.params import refuse_nul
from llmgate.store import keys as store
from llmgate.store.key_rows import KeyRow, NotFound

router = APIRouter(tags=["LiteLLM: keys"], dependencies=[Depends(refuse_nul)])
JsonBody = Annotated[dict[str, Any], Body()]


def _usable(engine: Any, ref: Any, param: str = "key") -> KeyRow:
    """The key (not deleted) named by ``ref``: its secret, token or alias; else a 404."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidRequest(f"{param}: name a key by its secret, token or alias", param=param)
    row = find_key(engine, ref)
    if row is None or row.revoked_at is not None:
        raise NotFound("no such key (it may have been deleted)", param=param)
    return row


def _view(request: Request, engine: Any, row: KeyRow) -> dict[str, Any]:
    return key_view(row, owner_spend(engine, "key", row.id, row.budget_period, time_zone(request)))


def _checked(request: Request, fields: dict[str, Any]) -> dict[str, Any]:
    models = configured_models(request)
    check_models(fields.get("models"), models)
    aliases = fields.get("aliases")
    if isinstance(aliases, dict):
        unknown = [target for target in aliases.values() if target not in models]
        if unknown:
            raise InvalidRequest(
                f"aliases: {unknown[0]!r} is not in the config's model_list", param="aliases"
            )
    return fields


@router.post("/key/generate", summary="LiteLLM: create a key (the secret is in this answer only)")
def generate(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    needs_master_key(request)
    fields = _checked(request, key_values(body, creating=True))
    key, row = key_admin.issue_key(engine, actor=actor(identity), **fields)
    keys_changed(request)
    return {**_view(request, engine, row), "key": key, "token_id": row.id, "duration": body.get("duration")}


@router.get("/key/info", summary="LiteLLM: one key and its spend")
def info(request: Request, identity: Caller, engine: Store, key: str | None = None) -> dict[str, Any]:
    if key is None:
        if identity.key is None:
            raise InvalidRequest("key: required with the master key", param="key")
        row = _usable(engine, identity.key.id)
    else:
        row = _usable(engine, key)
        if not identity.is_admin and (identity.key is None or identity.key.id != row.id):
            raise PermissionDenied("A key may read only its own /key/info.", code="admin_only")
    return {"key": key if key is not None else row.id, "info": _view(request, engine, row)}


@router.post("/key/update", summary="LiteLLM: change a key")
def update(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    ref = required(body.get("key"), "key")
    row = _usable(engine, ref)
    fields = _checked(request, key_values(body, creating=False))
    row = key_admin.update_key(engine, row.id, actor=actor(identity), **fields)
    keys_changed(request)
    return {"key": ref, **_view(request, engine, row)}


@router.post("/key/delete", summary="LiteLLM: delete keys (revoked; their spend stays)")
def delete(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    refs = body.get("keys") or body.get("key_aliases")
    if not isinstance(refs, list) or not refs:
        raise InvalidRequest("keys: name at least one key (or key_aliases)", param="keys")
    rows = [_usable(engine, ref, "keys") for ref in refs]  # all known, or nothing is deleted
    for row in rows:
        key_admin.revoke_key(engine, row.id, actor=actor(identity))
    keys_changed(request)
    return {"deleted_keys": refs}


@router.post("/key/regenerate", summary="LiteLLM: a new secret for a key (in this answer only)")
def regenerate(request: Request, body: JsonBody, identity: Admin, engine: Store) -> dict[str, Any]:
    row = _usable(engine, required(body.get("key"), "key"))
    key, row = key_admin.rotate_key(engine, row.id, actor=actor(identity))
    keys_changed(request)
    return {**_view(request, engine, row), "key": key, "token_id": row.id}


@router.get("/key/list", summary="LiteLLM: list keys (tokens, or whole objects)")
def list_keys(
    request: Request,
    identity: Admin,
    engine: Store,
    page: int = 1,
    size: int = 10,
    user_id: str | None = None,
    team_id: str | None = None,
    key_alias: str | None = None,
    return_full_object: bool = False,
) -> dict[str, Any]:
    if page < 1 or not 1 <= size <= 100:
        raise InvalidRequest("page must be at least 1 and size from 1 to 100", param="size")
    rows = [
        r
        for r in store.load_keys(engine)
        if r.revoked_at is None
        and (user_id is None or r.user_id == user_id)
        and (team_id is None or r.team_id == team_id)
        and (key_alias is None or r.alias == key_alias)
    ]
    chunk = rows[(page - 1) * size : page * size]
    keys: list[Any] = (
        [_view(request, engine, r) for r in chunk] if return_full_object else [r.id for r in chunk]
    )
    return {
        "keys": keys,
        "total_count": len(rows),
        "current_page": page,
        "total_pages": max(1, math.ceil(len(rows) / size)),
    }
