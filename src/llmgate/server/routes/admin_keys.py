"""Admin API for keys, teams and the audit log: ``/admin/keys``, ``/admin/teams``, ``/admin/audit``.

The master key or an admin key (``require_admin``). The handlers are thin: pydantic models check the
bodies (a wrong type answers 400 in OpenAI's error shape), ``auth/key_admin.py`` checks the values
and the store writes each change with its audit entry (actor ``api:master``, or ``api:<key id>`` for
an admin key), and the answer is a model in the OpenAPI schema. A key is in the answer to its
creation or rotation only; every other answer shows its prefix, never the key or its hash. Only the
master key creates admin keys or gives a key the admin role (an admin key trying to is refused with
403); a key cannot be created already expired (400), nor be allowed a model the config does not
serve (400), nor have a ``cache`` other than on, off or semantic (400); keys and teams are made
only when the config has a master key (400
``master_key_required``, ``config/master_key.py``). The handlers are plain functions, so FastAPI
runs them (and their blocking store calls) in its thread pool, off the event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy.engine import Engine

from llmgate.auth import key_admin
from llmgate.auth.key_fields import cache_setting, check_models
from llmgate.auth.keys import Identity
from llmgate.config.master_key import KEYS_NEED_MASTER_KEY
from llmgate.config.time_range import parse_moment
from llmgate.errors import InvalidRequest, PermissionDenied
from llmgate.server.deps import app_state, require_admin
from llmgate.server.params import refuse_nul
from llmgate.store import keys as store
from llmgate.store.migrate import upgrade
from llmgate.store.money import money_text


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(BaseModel):
    """Every error, as OpenAI shapes it."""

    error: ErrorDetail


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid body or value"},
    401: {"model": ErrorBody, "description": "Missing, wrong, revoked or expired key"},
    403: {
        "model": ErrorBody,
        "description": "Neither the master key nor an admin key; or an admin key granting the admin role",
    },
    404: {"model": ErrorBody, "description": "No such key or team"},
}
router = APIRouter(
    prefix="/admin", tags=["keys and teams"], responses=_ERRORS, dependencies=[Depends(refuse_nul)]
)

# Bodies are typed here; what a value may be (a budget under MAX_BUDGET, an rpm of at least 1, a
# name of at most MAX_NAME characters, a period) is auth/key_fields.py's rule, as for the CLI.


def _split(value: Any) -> Any:
    """``"a,b"`` as the CLI takes it, or a JSON list."""
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


def _pairs(value: Any) -> Any:
    """``"k=v,k2=v2"`` as the CLI takes it, or a JSON object."""
    if not isinstance(value, str):
        return value
    pairs = [part.partition("=") for part in value.split(",") if part.strip()]
    return {k.strip(): v.strip() for k, sep, v in pairs} if all(sep for _, sep, _ in pairs) else value


ModelList = Annotated[list[str], BeforeValidator(_split)]
Tags = Annotated[dict[str, str], BeforeValidator(_pairs)]
Budget = Annotated[Decimal, Field(allow_inf_nan=True)]
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day_or_time(value: Any) -> Any:
    """``2027-01-01`` means its midnight; a time without an offset is UTC (the store's rule)."""
    return f"{value.strip()}T00:00:00" if isinstance(value, str) and _DAY.fullmatch(value.strip()) else value


Expiry = Annotated[datetime, BeforeValidator(_day_or_time)]


def _also(*names: str) -> Any:
    """A field that also accepts the CLI's option names (``budget``, ``team``, ``expires``...)."""
    return Field(default=None, validation_alias=AliasChoices(*names))


# --- bodies -----------------------------------------------------------------------------------


class LimitsBody(BaseModel):
    """What keys and teams share. In a PATCH, a field left out stays as it is; null clears it."""

    model_config = ConfigDict(extra="forbid")

    models: ModelList | None = Field(None, description="Allowed model aliases; null: every one.")
    budget_usd: Budget | None = _also("budget_usd", "budget", "max_budget")
    budget_period: str | None = _also("budget_period", "budget_duration")
    rpm: int | None = Field(None, description="Requests per minute.")
    tpm: int | None = Field(None, description="Tokens per minute.")
    tags: Tags | None = None
    cache: str | None = Field(
        None, description="off: no response cache; semantic: opted into the semantic cache; on: the config's."
    )


class TeamCreate(LimitsBody):
    alias: str = Field(validation_alias=AliasChoices("alias", "team_id", "id"), description="Also its id.")


class TeamUpdate(LimitsBody):
    pass


class KeyUpdate(LimitsBody):
    alias: str | None = None
    team_id: str | None = _also("team_id", "team")
    user_id: str | None = _also("user_id", "user")
    expires_at: Expiry | None = _also("expires_at", "expires")
    admin: bool | None = Field(None, description="The admin role: the admin API and the dashboard.")


class KeyCreate(KeyUpdate):
    alias: str
    admin: bool = Field(False, description="The admin role: the admin API and the dashboard.")


# --- answers ----------------------------------------------------------------------------------


CacheSetting = Annotated[
    Literal["on", "off", "semantic", "custom"],
    Field(description="The response cache: custom is another metadata.cache, set through LiteLLM's API."),
]


class TeamInfo(BaseModel):
    id: str
    alias: str
    models: list[str] | None
    budget_usd: Decimal | None
    budget_period: str | None
    rpm: int | None
    tpm: int | None
    tags: dict[str, str]
    cache: CacheSetting
    created_at: datetime
    updated_at: datetime


class KeyInfo(BaseModel):
    id: str
    alias: str
    key_prefix: str = Field(description="The key's first characters, to recognise it by.")
    team_id: str | None
    user_id: str | None
    models: list[str] | None
    budget_usd: Decimal | None
    budget_period: str | None
    rpm: int | None
    tpm: int | None
    tags: dict[str, str]
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime
    admin: bool = Field(description="An admin key: it may use the admin API and the dashboard.")
    cache: CacheSetting
    status: Literal["active", "revoked", "expired"]


class NewKey(KeyInfo):
    key: str = Field(description="The key itself: in this answer only, stored only as its hash.")


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    changes: dict[str, list[Any]] = Field(description="field -> [old, new]; never a key or its hash.")


class KeyList(BaseModel):
    object: Literal["list"] = "list"
    data: list[KeyInfo]


class TeamList(BaseModel):
    object: Literal["list"] = "list"
    data: list[TeamInfo]


class AuditList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AuditEntry]


def _money(amount: Decimal | None) -> Decimal | None:
    return Decimal(money_text(amount)) if amount is not None else None


def _key_info(row: store.KeyRow) -> dict[str, Any]:
    fields = {name: getattr(row, name) for name in KeyInfo.model_fields if name not in ("status", "cache")}
    status = "revoked" if row.revoked_at else "active" if row.usable_at(datetime.now(UTC)) else "expired"
    derived = {"budget_usd": _money(row.budget_usd), "cache": cache_setting(row.metadata)}
    return fields | derived | {"status": status}


def _team_info(row: store.TeamRow) -> TeamInfo:
    fields = {name: getattr(row, name) for name in TeamInfo.model_fields if name not in ("alias", "cache")}
    derived = {"alias": row.id, "budget_usd": _money(row.budget_usd), "cache": cache_setting(row.metadata)}
    return TeamInfo(**fields | derived)


# --- dependencies -----------------------------------------------------------------------------

Admin = Annotated[Identity, Depends(require_admin)]


def _engine(request: Request, identity: Admin) -> Iterator[Engine]:
    """The store, its schema brought up to date once per app (after the caller is known)."""
    state = app_state(request)
    engine = state.engine
    if not getattr(request.app.state, "keys_schema_ready", False):
        upgrade(engine)
        request.app.state.keys_schema_ready = True
    yield engine


def _keys_changed(request: Request) -> None:
    """Re-read this process's copy of the keys before answering (route threads may block)."""
    state = app_state(request)
    if state.loop is not None:
        asyncio.run_coroutine_threadsafe(state.registry.refresh(), state.loop).result(timeout=10)


Store = Annotated[Engine, Depends(_engine)]


def _actor(identity: Identity) -> str:
    """``api:master``, or ``api:<key id>`` for an admin key (its id stays when its alias changes)."""
    return f"api:{identity.key.id}" if identity.key is not None else f"api:{identity.name}"


def _values(request: Request, body: BaseModel, *, only_set: bool, creates: bool = False) -> dict[str, Any]:
    """The body's fields, after the checks that need the config: a key or a team is made only
    for a gateway with a master key, and an allow-list names only models of the config."""
    config = app_state(request).config
    if creates and config.general_settings.master_key is None:
        raise InvalidRequest(KEYS_NEED_MASTER_KEY, code="master_key_required")
    names = set(body.model_fields_set if only_set else type(body).model_fields)
    values = {name: getattr(body, name) for name in names}
    check_models(values.get("models"), [entry.model_name for entry in config.model_list])
    return values


# --- keys -------------------------------------------------------------------------------------


def _grants_admin(identity: Identity, admin: bool | None) -> None:
    """Only the master key makes admin keys: an admin key may not hand out its own powers."""
    if admin and identity.key is not None:
        raise PermissionDenied(
            "Only the master key may create an admin key or give a key the admin role.",
            code="master_key_only",
        )


@router.post("/keys", status_code=201, summary="Create a key (the key is in this answer only)")
def create_key(request: Request, body: KeyCreate, identity: Admin, engine: Store) -> NewKey:
    _grants_admin(identity, body.admin)
    key, row = key_admin.issue_key(
        engine, actor=_actor(identity), **_values(request, body, only_set=False, creates=True)
    )
    _keys_changed(request)
    return NewKey(**_key_info(row), key=key)


@router.get("/keys", summary="List keys (prefixes only)")
def list_keys(identity: Admin, engine: Store, team: str | None = None) -> KeyList:
    rows = [r for r in store.load_keys(engine) if team is None or r.team_id == team]
    return KeyList(data=[KeyInfo(**_key_info(r)) for r in rows])


@router.get("/keys/{key_id}", summary="One key, by id or alias")
def get_key(key_id: str, identity: Admin, engine: Store) -> KeyInfo:
    row = store.get_key(engine, key_id)
    if row is None:
        raise store.NotFound(f"no key with id or alias {key_id!r}", param="key_id")
    return KeyInfo(**_key_info(row))


@router.patch("/keys/{key_id}", summary="Change a key (null clears a field)")
def update_key(request: Request, key_id: str, body: KeyUpdate, identity: Admin, engine: Store) -> KeyInfo:
    _grants_admin(identity, body.admin)
    row = key_admin.update_key(
        engine, key_id, actor=_actor(identity), **_values(request, body, only_set=True)
    )
    _keys_changed(request)
    return KeyInfo(**_key_info(row))


@router.post("/keys/{key_id}/revoke", summary="Revoke a key at once")
def revoke_key(request: Request, key_id: str, identity: Admin, engine: Store) -> KeyInfo:
    row = key_admin.revoke_key(engine, key_id, actor=_actor(identity))
    _keys_changed(request)
    return KeyInfo(**_key_info(row))


@router.post("/keys/{key_id}/rotate", summary="New secret for a key (in this answer only)")
def rotate_key(request: Request, key_id: str, identity: Admin, engine: Store) -> NewKey:
    key, row = key_admin.rotate_key(engine, key_id, actor=_actor(identity))
    _keys_changed(request)
    return NewKey(**_key_info(row), key=key)


# --- teams and the audit log --------------------------------------------------------------------


@router.post("/teams", status_code=201, summary="Create a team")
def create_team(request: Request, body: TeamCreate, identity: Admin, engine: Store) -> TeamInfo:
    values = _values(request, body, only_set=False, creates=True)
    alias = values.pop("alias")
    team = key_admin.create_team(engine, alias, actor=_actor(identity), **values)
    _keys_changed(request)
    return _team_info(team)


@router.get("/teams", summary="List teams")
def list_teams(identity: Admin, engine: Store) -> TeamList:
    return TeamList(data=[_team_info(r) for r in store.load_teams(engine)])


@router.patch("/teams/{team_id}", summary="Change a team (null clears a field)")
def update_team(request: Request, team_id: str, body: TeamUpdate, identity: Admin, engine: Store) -> TeamInfo:
    values = _values(request, body, only_set=True)
    team = key_admin.update_team(engine, team_id, actor=_actor(identity), **values)
    _keys_changed(request)
    return _team_info(team)


@router.get("/audit", summary="The audit log, oldest first")
def audit(
    request: Request, identity: Admin, engine: Store, since: str | None = None, target: str | None = None
) -> AuditList:
    tz = app_state(request).config.llmgate.time_zone
    entries = store.list_audit(engine, parse_moment(since, tz) if since else None, target=target)
    return AuditList(
        data=[
            AuditEntry(id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target, changes=e.changes)
            for e in entries
        ]
    )
