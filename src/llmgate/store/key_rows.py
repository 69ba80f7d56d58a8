"""The rows of keys, teams and the audit log as frozen dataclasses, read from their tables.

JSON columns (model allow-lists, tags, an audit entry's changes) are decoded here, so callers
never see them as text; ``Change`` is what a caller hands ``store/keys.py`` to write to a row.
Split out of ``store/keys.py``, which queries and writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from llmgate.errors import LlmgateError


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
    admin: bool = False  # the admin role: the admin API and the dashboard, as with the master key
    # LiteLLM's key fields (migration 0009)
    metadata: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # model alias -> configured model name
    max_parallel: int | None = None  # requests in flight at once

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
    alias: str | None = None  # LiteLLM's team_alias (migration 0009); the id is the team's name
    metadata: dict[str, Any] = field(default_factory=dict)


def json_value(value: str | None) -> Any:
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
        models=json_value(m["models_json"]),
        budget_usd=m["budget_usd"],
        budget_period=m["budget_period"],
        rpm=m["rpm"],
        tpm=m["tpm"],
        tags=json_value(m["tags_json"]) or {},
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        admin=bool(m["admin"]),
        metadata=json_value(m["metadata_json"]) or {},
        aliases=json_value(m["aliases_json"]) or {},
        max_parallel=m["max_parallel"],
    )


def team_from_row(row: Any) -> TeamRow:
    m = row._mapping
    return TeamRow(
        id=m["id"],
        models=json_value(m["models_json"]),
        budget_usd=m["budget_usd"],
        budget_period=m["budget_period"],
        rpm=m["rpm"],
        tpm=m["tpm"],
        tags=json_value(m["tags_json"]) or {},
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        alias=m["alias"],
        metadata=json_value(m["metadata_json"]) or {},
    )


class NotFound(LlmgateError):
    """No key or team by that id (or alias)."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    actor: str  # cli:<os user> | api:master | api:<admin key id>
    action: str  # key.create | key.update | key.revoke | key.rotate | team.create | team.update
    target: str  # key id or team id
    changes: dict[str, list[Any]]  # field -> [old, new] as JSON values (money as exact text)


@dataclass(frozen=True, slots=True)
class Change:
    """A change to a key's or team's row, decided above the store from the row as it is."""

    values: Mapping[str, Any] = field(default_factory=dict)  # fields to set; none: nothing written
    audit: Mapping[str, Any] = field(default_factory=dict)  # its audit entry: field -> [old, new] as JSON
    end_sessions: bool = False  # end the key's dashboard sessions, in the same transaction
