"""Queries on virtual keys, teams and the audit log.

Keys are stored as their SHA-256 only (``auth/keys.py`` makes and hashes them). Rows come back
as frozen dataclasses; JSON columns (model allow-lists, tags) are decoded here, so callers never
see them as text. Every admin change writes its audit entry in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store.models import table


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: str
    alias: str
    key_hash: str
    key_prefix: str
    team_id: str | None
    user_id: str | None
    models: list[str] | None  # None: every model (subject to the team's list)
    budget_usd: Decimal | None
    budget_period: str | None
    rpm: int | None
    tpm: int | None
    tags: dict[str, str]
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True, slots=True)
class TeamRow:
    id: str
    models: list[str] | None
    budget_usd: Decimal | None
    budget_period: str | None
    rpm: int | None
    tpm: int | None
    tags: dict[str, str]
    created_at: datetime
    updated_at: datetime


def _json(value: str | None) -> Any:
    return orjson.loads(value) if value else None


def key_from_row(row: Any) -> KeyRow:
    m = row._mapping
    return KeyRow(
        id=m["id"],
        alias=m["alias"],
        key_hash=m["key_hash"],
        key_prefix=m["key_prefix"],
        team_id=m["team_id"],
        user_id=m["user_id"],
        models=_json(m["models_json"]),
        budget_usd=m["budget_usd"],
        budget_period=m["budget_period"],
        rpm=m["rpm"],
        tpm=m["tpm"],
        tags=_json(m["tags_json"]) or {},
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def team_from_row(row: Any) -> TeamRow:
    m = row._mapping
    return TeamRow(
        id=m["id"],
        models=_json(m["models_json"]),
        budget_usd=m["budget_usd"],
        budget_period=m["budget_period"],
        rpm=m["rpm"],
        tpm=m["tpm"],
        tags=_json(m["tags_json"]) or {},
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


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


def keys_version(engine: Engine) -> tuple[Any, ...]:
    """A cheap marker that changes whenever a key or team is created or changed."""
    keys, teams = table("api_keys"), table("teams")
    with engine.connect() as conn:
        k = conn.execute(sa.select(sa.func.count(), sa.func.max(keys.c.updated_at))).one()
        t = conn.execute(sa.select(sa.func.count(), sa.func.max(teams.c.updated_at))).one()
    return (*k, *t)
