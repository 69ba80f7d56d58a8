"""Queries and writes on virtual keys, teams and the audit log.

Keys are stored as their SHA-256 only (``auth/keys.py`` makes and hashes them). Rows come back
as frozen dataclasses; JSON columns (model allow-lists, tags) are decoded here, so callers never
see them as text. Every admin change (``create_team``, ``update_team``, ``create_key``,
``update_key``, ``revoke_key``, ``rotate_key``) checks its values, then writes the row and its
audit entry in one transaction: who, when, which fields went from what to what, never a key,
a prefix or a hash. The audit log is append-only: this module offers no way to change or
delete an entry. The CLI and the admin API are thin callers of these functions. A key with
``admin`` set is an admin key: it may use the admin API and the dashboard as the master key does.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypedDict, Unpack

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from llmgate.errors import InvalidRequest, LlmgateError, StoreError
from llmgate.store.db import describe_error
from llmgate.store.models import MONEY_SCALE, table
from llmgate.store.spend import PERIODS


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
        admin=bool(m["admin"]),
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


# --- writes: each checks its values and appends its audit entry in the same transaction ----


class NotFound(LlmgateError):
    """No key or team by that id (or alias)."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


class Limits(TypedDict, total=False):
    """What keys and teams both have. In updates a field left out stays; ``None`` clears it."""

    models: list[str] | None  # allow-list; None: every model
    budget_usd: Decimal | None  # per ``budget_period`` (monthly when a budget has none)
    budget_period: str | None  # daily | weekly | monthly
    rpm: int | None
    tpm: int | None
    tags: Mapping[str, str] | None


class KeyFields(Limits, total=False):
    alias: str
    team_id: str | None  # must name an existing team
    user_id: str | None
    expires_at: datetime | None  # naive: UTC
    admin: bool  # the admin role (the admin API and the dashboard); None is False


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    actor: str  # cli:<os user> | api:master | api:<admin key id>
    action: str  # key.create | key.update | key.revoke | key.rotate | team.create | team.update
    target: str  # key id or team id
    changes: dict[str, list[Any]]  # field -> [old, new] as JSON values (money as exact text)


#: budgets stay well inside the SQLite ``Money`` column's range, sums included
MAX_BUDGET = Decimal(10) ** 9
MAX_NAME = 200
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
_KEY_ID = re.compile(r"key_[0-9a-f]{12}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TEAM_FIELDS = frozenset(Limits.__annotations__)
_KEY_FIELDS = frozenset(KeyFields.__annotations__)


def money_text(amount: Decimal) -> str:
    """``Decimal('10.0000000000')`` -> ``'10'``: exact, no exponent, no trailing zeros."""
    return format(amount.normalize(), "f")


def plain(value: Any) -> Any:
    """A row value as JSON: money as exact text, times as ISO 8601."""
    if isinstance(value, Decimal):
        return money_text(value)
    return value.isoformat() if isinstance(value, datetime) else value


def _bad(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {message}", param=field)


def _text(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_NAME:
        raise _bad(field, f"must be a non-empty name of at most {MAX_NAME} characters")
    return value.strip()


def _amount(value: object) -> Decimal:
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int | str):
        raise _bad("budget_usd", "must be an exact amount such as 25 or 12.50")
    try:
        amount = Decimal(value)
    except ArithmeticError:
        raise _bad("budget_usd", f"not an amount: {value!r}") from None
    if not amount.is_finite() or amount < 0 or amount >= MAX_BUDGET:
        raise _bad("budget_usd", f"must be a finite amount from 0 to under {MAX_BUDGET:,} USD")
    return amount.quantize(_QUANTUM)


def _clean(field: str, value: Any) -> Any:
    """One field checked and normalised; ``None`` stays ``None`` (no value, or cleared)."""
    if field == "admin":
        if value is not None and not isinstance(value, bool):
            raise _bad(field, "must be true or false")
        return bool(value)
    if value is None:
        return {} if field == "tags" else None
    if field in ("alias", "team_id", "user_id"):
        return _text(field, value)
    if field == "budget_usd":
        return _amount(value)
    if field == "models":
        if not isinstance(value, list | tuple) or not all(isinstance(m, str) and m.strip() for m in value):
            raise _bad(field, "must be a list of model names")
        if not value:
            raise _bad(field, "name at least one model (leave it out to allow every model)")
        return list(dict.fromkeys(m.strip() for m in value))
    if field == "budget_period" and value not in PERIODS:
        raise _bad(field, f"must be one of {', '.join(PERIODS)}")
    if field in ("rpm", "tpm") and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise _bad(field, "must be a whole number of at least 1")
    if field == "tags":
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and k.strip() and isinstance(v, str) for k, v in value.items()
        ):
            raise _bad(field, "must map names to text values")
        return {k.strip(): v for k, v in value.items()}
    if field == "expires_at":
        if not isinstance(value, datetime):
            raise _bad(field, "must be a date and time")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def _fields(given: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    if unknown := set(given) - allowed:
        raise TypeError(f"unknown fields: {', '.join(sorted(unknown))}")
    fields = {name: _clean(name, value) for name, value in given.items()}
    alias = fields.get("alias", "")
    if alias is None or alias.startswith("sk-") or _KEY_ID.fullmatch(alias):
        raise _bad("alias", "a key needs an alias that does not look like a key or a key id")
    return fields


def _check_secret(key_hash: str, key_prefix: str) -> None:
    """Guard against a caller handing over the key itself instead of its hash or prefix."""
    if not _SHA256.fullmatch(key_hash) or not 0 < len(key_prefix) <= 16:
        raise ValueError("expected the key's SHA-256 hex digest and a short display prefix, never the key")


def _default_period(fields: dict[str, Any], current: str | None = None) -> None:
    """A budget without a period is a monthly budget."""
    if fields.get("budget_usd") is not None and fields.get("budget_period", current) is None:
        fields["budget_period"] = "monthly"


def _columns(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "models" in out:
        models = out.pop("models")
        out["models_json"] = orjson.dumps(models).decode() if models is not None else None
    if "tags" in out:
        tags = out.pop("tags")
        out["tags_json"] = orjson.dumps(tags).decode() if tags else None
    return out


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.begin() as conn:
            yield conn
    except IntegrityError as exc:
        raise InvalidRequest(f"conflicting change: {describe_error(exc)}", code="conflict") from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"store write failed: {describe_error(exc)}") from exc


def _audit(conn: Connection, at: datetime, actor: str, action: str, target: str, changes: Any) -> None:
    conn.execute(
        sa.insert(table("audit_log")).values(
            at=at,
            actor=_text("actor", actor),
            action=action,
            target=target,
            changes_json=orjson.dumps(changes).decode() if changes else None,
        )
    )


def _select_key(conn: Connection, ref: str, *, lock: bool = False) -> KeyRow | None:
    keys = table("api_keys")
    for column in (keys.c.id, keys.c.alias):
        query = sa.select(keys).where(column == ref)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is not None:
            return key_from_row(row)
    return None


def _key(conn: Connection, ref: str, *, lock: bool = False) -> KeyRow:
    row = _select_key(conn, ref, lock=lock)
    if row is None:
        raise NotFound(f"no key with id or alias {ref!r}", param="key")
    return row


def _select_team(conn: Connection, team_id: str, *, lock: bool = False) -> TeamRow | None:
    teams = table("teams")
    query = sa.select(teams).where(teams.c.id == team_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return team_from_row(row) if row is not None else None


def _team(conn: Connection, team_id: str, *, lock: bool = False) -> TeamRow:
    row = _select_team(conn, team_id, lock=lock)
    if row is None:
        raise NotFound(f"no team named {team_id!r}", param="team")
    return row


def _check_key_refs(conn: Connection, fields: Mapping[str, Any], own_id: str | None = None) -> None:
    """The alias is free and the team exists."""
    keys = table("api_keys")
    if "alias" in fields:
        holder = conn.execute(sa.select(keys.c.id).where(keys.c.alias == fields["alias"])).scalar()
        if holder is not None and holder != own_id:
            raise InvalidRequest(
                f"a key with alias {fields['alias']!r} exists already", param="alias", code="alias_taken"
            )
    team_id = fields.get("team_id")
    if team_id is not None and _select_team(conn, team_id) is None:
        raise InvalidRequest(
            f"no team named {team_id!r}: create the team first", param="team_id", code="team_not_found"
        )


def _update(conn: Connection, kind: str, old: KeyRow | TeamRow, fields: dict[str, Any], actor: str) -> None:
    """Write the fields that differ and their audit entry; nothing at all when none differs."""
    changes = {k: [plain(getattr(old, k)), plain(v)] for k, v in fields.items() if getattr(old, k) != v}
    if changes:
        at = datetime.now(UTC)
        rows = table("api_keys" if kind == "key" else "teams")
        values = _columns({k: fields[k] for k in changes})
        conn.execute(sa.update(rows).where(rows.c.id == old.id).values(updated_at=at, **values))
        _audit(conn, at, actor, f"{kind}.update", old.id, changes)


def get_key(engine: Engine, ref: str) -> KeyRow | None:
    """The key whose id, or else whose alias, is ``ref``."""
    with engine.connect() as conn:
        return _select_key(conn, ref)


def get_team(engine: Engine, team_id: str) -> TeamRow | None:
    with engine.connect() as conn:
        return _select_team(conn, team_id)


def create_team(engine: Engine, team_id: str, *, actor: str, **limits: Unpack[Limits]) -> TeamRow:
    """A new team; its id is its name (the CLI's ``--alias``)."""
    team_id = _text("alias", team_id)
    fields = _fields({"tags": None, **limits}, _TEAM_FIELDS)
    _default_period(fields)
    at = datetime.now(UTC)
    with _transaction(engine) as conn:
        if _select_team(conn, team_id) is not None:
            raise InvalidRequest(
                f"a team named {team_id!r} exists already", param="alias", code="team_exists"
            )
        values = _columns(fields)
        conn.execute(sa.insert(table("teams")).values(id=team_id, created_at=at, updated_at=at, **values))
        changes = {k: [None, plain(v)] for k, v in fields.items() if v is not None and v != {}}
        _audit(conn, at, actor, "team.create", team_id, changes)
        return _team(conn, team_id)


def update_team(engine: Engine, team_id: str, *, actor: str, **changes: Unpack[Limits]) -> TeamRow:
    """Change the given fields (``None`` clears one)."""
    fields = _fields(changes, _TEAM_FIELDS)
    with _transaction(engine) as conn:
        old = _team(conn, team_id, lock=True)
        _default_period(fields, old.budget_period)
        _update(conn, "team", old, fields, actor)
        return _team(conn, old.id)


def create_key(
    engine: Engine,
    *,
    key_hash: str,
    key_prefix: str,
    actor: str,
    key_id: str | None = None,
    **fields: Unpack[KeyFields],
) -> KeyRow:
    """Store a new key by its SHA-256 hex (``auth.keys.hash_key``): the key never gets here."""
    _check_secret(key_hash, key_prefix)
    if "alias" not in fields:
        raise _bad("alias", "a key needs an alias")
    values = _fields({"tags": None, **fields}, _KEY_FIELDS)
    _default_period(values)
    key_id = key_id or "key_" + secrets.token_hex(6)
    at = datetime.now(UTC)
    with _transaction(engine) as conn:
        _check_key_refs(conn, values)
        conn.execute(
            sa.insert(table("api_keys")).values(
                id=key_id,
                key_hash=key_hash,
                key_prefix=key_prefix,
                created_at=at,
                updated_at=at,
                **_columns(values),
            )
        )
        changes = {k: [None, plain(v)] for k, v in values.items() if v is not None and v != {}}
        if not values.get("admin"):
            changes.pop("admin", None)  # a plain key: nothing to say
        _audit(conn, at, actor, "key.create", key_id, changes)
        return _key(conn, key_id)


def update_key(engine: Engine, key_ref: str, *, actor: str, **changes: Unpack[KeyFields]) -> KeyRow:
    """Change the given fields of the key whose id or alias is ``key_ref`` (``None`` clears one)."""
    fields = _fields(changes, _KEY_FIELDS)
    with _transaction(engine) as conn:
        old = _key(conn, key_ref, lock=True)
        _check_key_refs(conn, fields, old.id)
        _default_period(fields, old.budget_period)
        _update(conn, "key", old, fields, actor)
        return _key(conn, old.id)


def revoke_key(engine: Engine, key_ref: str, actor: str) -> KeyRow:
    """Revoke at once. Idempotent: a key revoked already stays as it was, with no new entry."""
    at = datetime.now(UTC)
    keys = table("api_keys")
    with _transaction(engine) as conn:
        old = _key(conn, key_ref, lock=True)
        if old.revoked_at is None:
            conn.execute(sa.update(keys).where(keys.c.id == old.id).values(revoked_at=at, updated_at=at))
            _audit(conn, at, actor, "key.revoke", old.id, {"revoked_at": [None, plain(at)]})
        return _key(conn, old.id)


def rotate_key(engine: Engine, key_ref: str, new_hash: str, new_prefix: str, actor: str) -> KeyRow:
    """A new secret for the key (same id, alias and limits); the old one stops working at once."""
    _check_secret(new_hash, new_prefix)
    at = datetime.now(UTC)
    keys = table("api_keys")
    with _transaction(engine) as conn:
        old = _key(conn, key_ref, lock=True)
        if old.revoked_at is not None:
            raise InvalidRequest(f"key {old.id} is revoked: create a new key instead", code="key_revoked")
        new = {"key_hash": new_hash, "key_prefix": new_prefix, "updated_at": at}
        conn.execute(sa.update(keys).where(keys.c.id == old.id).values(**new))
        _audit(conn, at, actor, "key.rotate", old.id, {"secret": ["previous", "new"]})
        return _key(conn, old.id)


def list_audit(engine: Engine, since: datetime | None = None, *, target: str | None = None) -> list[AuditRow]:
    """Audit entries in the order they were written, from ``since`` (inclusive), for one target."""
    log = table("audit_log")
    query = sa.select(log).order_by(log.c.id)
    if since is not None:
        query = query.where(log.c.at >= since)
    if target is not None:
        query = query.where(log.c.target == target)
    with engine.connect() as conn:
        rows = [r._mapping for r in conn.execute(query)]
    return [
        AuditRow(m["id"], m["at"], m["actor"], m["action"], m["target"], _json(m["changes_json"]) or {})
        for m in rows
    ]
