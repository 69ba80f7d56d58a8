"""What the LiteLLM management-API routes share: who is calling, the store, and LiteLLM's JSON.

Scripts written for LiteLLM's proxy authenticate with the master key (or an admin key) as
``Authorization: Bearer <key>``, or as ``x-litellm-api-key: <key>`` (with or without ``Bearer``),
which LiteLLM also accepts and which wins when both are sent (a client may put an upstream's key
in ``Authorization``). A key is named by its secret (``sk-lg-...``, looked up by its hash), its
``token`` (llmgate's key id, what LiteLLM's answers carry instead of the secret) or its alias.
Money is a JSON number (LiteLLM's floats; the store keeps exact decimals), times ISO 8601, and a
budget period is said back in LiteLLM's words (``1d``, ``7d``, ``30d``). Errors keep OpenAI's
shape, as LiteLLM's management API answers them (``{"error": {"message", "type", "param", "code"}}``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from llmgate.auth.keys import hash_key
from llmgate.config.budget_periods import period_bounds
from llmgate.config.master_key import KEYS_NEED_MASTER_KEY
from llmgate.errors import InvalidRequest, PermissionDenied
from llmgate.server.deps import app_state
from llmgate.store import keys as store
from llmgate.store.migrate import upgrade
from llmgate.store.rollup_reads import period_spend

if TYPE_CHECKING:
    from llmgate.auth.keys import Identity
    from llmgate.store.key_rows import KeyRow, TeamRow

#: llmgate's budget period, in LiteLLM's budget_duration words
DURATION_OF = {"daily": "1d", "weekly": "7d", "monthly": "30d"}
LITELLM_KEY_HEADER = "x-litellm-api-key"


async def caller(request: Request) -> Identity:
    """Whoever presents a usable key (any key: each route says what it allows)."""
    headers = request.headers
    litellm_key = headers.get(LITELLM_KEY_HEADER)
    if litellm_key:
        token = litellm_key.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        return await app_state(request).authenticator.aauthenticate(f"Bearer {token}", None)
    return await app_state(request).authenticator.aauthenticate(
        headers.get("authorization"), headers.get("api-key")
    )


async def require_admin(request: Request) -> Identity:
    """The master key or an admin key, as LiteLLM's management routes need its master key."""
    identity = await caller(request)
    if not identity.is_admin:
        raise PermissionDenied("This route needs the master key or an admin key.", code="admin_only")
    return identity


Caller = Annotated["Identity", Depends(caller)]
Admin = Annotated["Identity", Depends(require_admin)]


def _engine(request: Request, identity: Caller) -> Iterator[Engine]:
    """The store, its schema brought up to date once per app (after the caller is known)."""
    engine = app_state(request).engine
    if not getattr(request.app.state, "litellm_schema_ready", False):
        upgrade(engine)
        request.app.state.litellm_schema_ready = True
    yield engine


Store = Annotated[Engine, Depends(_engine)]


def needs_master_key(request: Request) -> None:
    """Keys, users and teams are made only for a gateway with a master key."""
    if app_state(request).config.general_settings.master_key is None:
        raise InvalidRequest(KEYS_NEED_MASTER_KEY, code="master_key_required")


def configured_models(request: Request) -> list[str]:
    return [entry.model_name for entry in app_state(request).config.model_list]


def keys_changed(request: Request) -> None:
    """Re-read this process's copy of keys, teams and users before answering (route threads block)."""
    state = app_state(request)
    if state.loop is not None:
        asyncio.run_coroutine_threadsafe(state.registry.refresh(), state.loop).result(timeout=10)


def actor(identity: Identity) -> str:
    """How a change is audited: ``litellm-api:master`` or ``litellm-api:<admin key id>``."""
    return f"litellm-api:{identity.key.id}" if identity.key is not None else f"litellm-api:{identity.name}"


def time_zone(request: Request) -> str:
    return app_state(request).config.llmgate.time_zone


def find_key(engine: Engine, ref: str) -> KeyRow | None:
    """The key named by its secret, its token (id) or its alias; ``None`` if none is."""
    ref = ref.strip()
    if ref.startswith("sk-"):
        return store.find_key(engine, hash_key(ref))
    return store.get_key(engine, ref)


def number(amount: Decimal | None) -> float | None:
    """Money as LiteLLM's JSON number."""
    return float(amount) if amount is not None else None


def when(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def duration(period: str | None) -> str | None:
    return DURATION_OF.get(period, period) if period is not None else None


def key_view(row: KeyRow, spend: Decimal) -> dict[str, Any]:
    """A key as LiteLLM's ``/key/info`` shows it: ``token`` is its id, never the secret or a hash."""
    return {
        "token": row.id,
        "key_name": f"{row.key_prefix}...",
        "key_alias": row.alias,
        "spend": float(spend),
        "max_budget": number(row.budget_usd),
        "budget_duration": duration(row.budget_period),
        "expires": when(row.expires_at),
        "models": row.models or [],
        "aliases": row.aliases,
        "config": {},
        "user_id": row.user_id,
        "team_id": row.team_id,
        "max_parallel_requests": row.max_parallel,
        "metadata": row.metadata,
        "tpm_limit": row.tpm,
        "rpm_limit": row.rpm,
        "blocked": row.revoked_at is not None,
        "created_at": when(row.created_at),
        "updated_at": when(row.updated_at),
    }


def team_view(row: TeamRow, spend: Decimal, members: list[dict[str, Any]]) -> dict[str, Any]:
    """A team as LiteLLM's ``/team/info`` shows it."""
    return {
        "team_id": row.id,
        "team_alias": row.alias,
        "members_with_roles": members,
        "models": row.models or [],
        "max_budget": number(row.budget_usd),
        "budget_duration": duration(row.budget_period),
        "spend": float(spend),
        "tpm_limit": row.tpm,
        "rpm_limit": row.rpm,
        "metadata": row.metadata,
        "blocked": False,
        "created_at": when(row.created_at),
        "updated_at": when(row.updated_at),
    }


def spend_since(period: str | None, tz: str) -> datetime:
    """Where an owner's reported ``spend`` starts: its budget period's start, else the beginning."""
    if period is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return period_bounds(period, datetime.now(UTC), tz)[0]


def owner_spend(engine: Engine, scope: str, owner: str, period: str | None, tz: str) -> Decimal:
    """What a key, team or user (``scope``) spent in its current budget period (all time without one)."""
    return period_spend(engine, scope, spend_since(period, tz)).get(owner, Decimal(0))


def required(value: Any, name: str) -> Any:
    if value is None or value == "" or value == []:
        raise InvalidRequest(f"{name}: required", param=name)
    return value
