"""Admin API for canary releases: ``/admin/canaries``, as ``llmgate canary`` does from the CLI.

The master key or an admin key (``require_admin``). Thin handlers over ``canary/actions.py``: start
(``POST /admin/canaries``), list and show (with the gates' last evaluation), promote (one step, or
``{"full": true}``), pause, resume, rollback (``{"reason": ...}``), the history (the decision log)
and the export (the ``model_list`` change that keeps a promotion). Each change is written with its
audit entry (actor ``api:master`` or ``api:<key id>``) and announced to every replica; this process's
own table is told at once. A bad value answers 400 naming it, an unknown canary 404, a change that
does not fit the canary's status 400 with code ``conflict``, all in OpenAI's error shape. ``eval:``
suite paths in a start are relative to the config file's folder. The handlers are plain functions:
FastAPI runs them (and their blocking store calls) in its thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

from llmgate.auth.keys import Identity
from llmgate.canary.actions import CanaryActions, Catalog, canary_json
from llmgate.server.deps import app_state, require_admin
from llmgate.server.params import refuse_nul
from llmgate.store.migrate import upgrade

_ERROR = {"description": "OpenAI's error shape: {error: {message, type, param, code}}"}
router = APIRouter(
    prefix="/admin/canaries",
    tags=["canary releases"],
    responses={400: _ERROR, 401: _ERROR, 403: _ERROR, 404: _ERROR},
    dependencies=[Depends(refuse_nul)],
)

Admin = Annotated[Identity, Depends(require_admin)]


class StartBody(BaseModel):
    """A new canary; as ``llmgate.canaries[]`` in the config, or ``llmgate canary start``."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="The model group whose traffic is split (stable).")
    candidate: str | dict[str, Any] | None = Field(
        None, description="A model group or deployment id, or {model|deployment, system_prompt, params}."
    )
    system_prompt: str | None = None
    params: dict[str, Any] | None = None
    steps: list[float] | str | None = Field(None, description="Percentages, the last 100 (or '10,50,100').")
    gates: list[str] | str | None = None
    sticky: Literal["user", "session", "key"] | None = None
    tolerances: dict[str, float] | None = None
    alpha: float | None = None
    min_step_requests: int | None = None
    id: str | None = Field(None, description="The canary's id (default: the model's name).")


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full: bool = Field(False, description="All the way: 100% and promoted.")


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = None


def _actions(request: Request, identity: Admin) -> CanaryActions:
    """The canary actions on this gateway's store (migrated once per app), as the caller."""
    state = app_state(request)
    engine: Engine = state.engine
    if not getattr(request.app.state, "canaries_schema_ready", False):
        upgrade(engine)
        request.app.state.canaries_schema_ready = True
    actor = f"api:{identity.key.id}" if identity.key is not None else f"api:{identity.name}"
    follower = state.canary_parts.follower

    def wake() -> None:  # this process's table follows at once (the others through Redis or their poll)
        if state.loop is not None:
            state.loop.call_soon_threadsafe(follower.wake)

    return CanaryActions(
        engine,
        Catalog.of(state.config, state.settings.config_path),
        actor=actor,
        source="api",
        redis_url=state.config.routing.redis_url,
        on_change=wake,
    )


Actions = Annotated[CanaryActions, Depends(_actions)]


def _list(data: list[Any]) -> dict[str, Any]:
    return {"object": "list", "data": data}


@router.post("", status_code=201, summary="Start a canary")
def start_canary(body: StartBody, actions: Actions) -> dict[str, Any]:
    values = body.model_dump(exclude={"id"}) | {"canary_id": body.id}
    return canary_json(actions.start(**values))


@router.get("", summary="Every canary (or the active ones), with the gates' last evaluation")
def list_canaries(actions: Actions, active: bool = False) -> dict[str, Any]:
    return _list([canary_json(row) for row in actions.status() if row.active or not active])


@router.get("/{ref}", summary="One canary, by id or model (its active, else latest, canary)")
def get_canary(ref: str, actions: Actions) -> dict[str, Any]:
    return canary_json(actions.get(ref))


@router.post("/{ref}/promote", summary="The next step ({full: true}: 100% and promoted)")
def promote_canary(ref: str, actions: Actions, body: PromoteBody | None = None) -> dict[str, Any]:
    return canary_json(actions.promote(ref, full=body.full if body is not None else False))


@router.post("/{ref}/pause", summary="Hold at the current step: no promotion until resumed")
def pause_canary(ref: str, actions: Actions) -> dict[str, Any]:
    return canary_json(actions.pause(ref))


@router.post("/{ref}/resume", summary="Let a paused canary be promoted again")
def resume_canary(ref: str, actions: Actions) -> dict[str, Any]:
    return canary_json(actions.resume(ref))


@router.post("/{ref}/rollback", summary="0% to the candidate, on every replica")
def rollback_canary(ref: str, actions: Actions, body: RollbackBody | None = None) -> dict[str, Any]:
    return canary_json(actions.rollback(ref, reason=body.reason if body is not None else None))


@router.get("/{ref}/history", summary="The canary's events, oldest first (for a model: all its canaries')")
def canary_history(ref: str, actions: Actions) -> dict[str, Any]:
    events = actions.history(ref)
    return _list([event | {"at": event["at"].isoformat()} for event in events])


@router.get("/{ref}/export", summary="The model_list change that keeps the candidate's promotion")
def export_canary(ref: str, actions: Actions) -> dict[str, Any]:
    row = actions.get(ref)
    return {"object": "canary.export", "id": row.id, "model": row.model, "yaml": actions.export(row.id)}
