"""The values of keys and teams, checked and normalised before ``store/keys.py`` writes them.

Each field has one rule, whichever surface (the CLI, the admin API) hands it over: names are
non-empty and short, budgets exact and bounded, periods and limits from their sets, tags text, and
no text holds a NUL character (PostgreSQL cannot store one). A new key may not be born expired
(``check_new_expiry``); changing an existing key's expiry to the past stays allowed, as a way to
end it. An allow-list names only models of the config (``check_models``, called by the CLI and
the admin API, which know the config). A refused value is an ``InvalidRequest`` naming the field.
A budget without a period is monthly (``default_period``). ``cache`` (``on``, ``off``,
``semantic``) is said as the ``metadata.cache`` that ``cache/directives.py`` reads, the rest of the
metadata kept (``with_cache``), and read back for people (``cache_setting``). ``plain`` writes a
row's values as JSON (money as exact text), for the audit trail and the CLI. ``auth/key_admin.py``
applies these rules and hands the store only valid values; the CLI checks options with them before
it opens the store. No SQLAlchemy here, so that check stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypedDict

import orjson

from llmgate.config.budget_periods import DEFAULT_PERIOD, PERIODS
from llmgate.errors import InvalidRequest
from llmgate.store.money import MONEY_QUANTUM, money_text


class Limits(TypedDict, total=False):
    """What keys and teams both have. In updates a field left out stays; ``None`` clears it."""

    models: list[str] | None  # allow-list; None: every model
    budget_usd: Decimal | None  # per ``budget_period`` (monthly when a budget has none)
    budget_period: str | None  # daily | weekly | monthly
    rpm: int | None
    tpm: int | None
    tags: Mapping[str, str] | None
    metadata: Mapping[str, Any] | None  # any JSON object (LiteLLM's metadata); None clears it
    cache: str | None  # on | off | semantic, stored as metadata.cache; None is "on"


class TeamFields(Limits, total=False):
    alias: str | None  # a display name (LiteLLM's team_alias); the team's id stays its name


class KeyFields(Limits, total=False):
    alias: str
    team_id: str | None  # must name an existing team
    user_id: str | None
    expires_at: datetime | None  # naive: UTC
    admin: bool  # the admin role (the admin API and the dashboard); None is False
    aliases: Mapping[str, str] | None  # model alias -> a model of the config (LiteLLM's aliases)
    max_parallel: int | None  # requests in flight at once (LiteLLM's max_parallel_requests)


#: budgets stay well inside the SQLite ``Money`` column's range, sums included
# under what every store's Money column holds (SQLite: (2**63 - 1) / 1e10 = 922,337,203.68 USD)
MAX_BUDGET = Decimal(10) ** 8
MAX_NAME = 200
#: requests or tokens per minute: what every store's INTEGER column holds
MAX_COUNT = 2**31 - 1
_KEY_ID = re.compile(r"key_[0-9a-f]{12}")
#: a key's or team's metadata, as JSON text
MAX_METADATA_BYTES = 16 * 1024
#: a key's or team's cache setting (``cache/directives.py`` reads it from ``metadata.cache``)
CACHE_SETTINGS = ("on", "off", "semantic")
_CACHE_METADATA: dict[str, Any] = {"off": False, "semantic": {"semantic": True}}
TEAM_FIELDS = frozenset(TeamFields.__annotations__)
KEY_FIELDS = frozenset(KeyFields.__annotations__)


def plain(value: Any) -> Any:
    """A row value as JSON: money as exact text, times as ISO 8601."""
    if isinstance(value, Decimal):
        return money_text(value)
    return value.isoformat() if isinstance(value, datetime) else value


def bad(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {message}", param=field)


def text(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_NAME:
        raise bad(field, f"must be a non-empty name of at most {MAX_NAME} characters")
    return value.strip()


def _amount(value: object) -> Decimal:
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int | str):
        raise bad("budget_usd", "must be an exact amount such as 25 or 12.50")
    try:
        amount = Decimal(value)
    except ArithmeticError:
        raise bad("budget_usd", f"not an amount: {value!r}") from None
    if not amount.is_finite() or amount < 0 or amount >= MAX_BUDGET:
        raise bad("budget_usd", f"must be a finite amount from 0 to under {MAX_BUDGET:,} USD")
    return amount.quantize(MONEY_QUANTUM)


def _clean(field: str, value: Any) -> Any:
    """One field checked and normalised; ``None`` stays ``None`` (no value, or cleared)."""
    if field == "admin":
        if value is not None and not isinstance(value, bool):
            raise bad(field, "must be true or false")
        return bool(value)
    if value is None:
        return {} if field in ("tags", "metadata", "aliases") else None
    if field in ("alias", "team_id", "user_id"):
        return text(field, value)
    if field == "budget_usd":
        return _amount(value)
    if field == "models":
        if not isinstance(value, list | tuple) or not all(isinstance(m, str) and m.strip() for m in value):
            raise bad(field, "must be a list of model names")
        if not value:
            raise bad(field, "name at least one model (leave it out to allow every model)")
        return list(dict.fromkeys(m.strip() for m in value))
    if field == "cache":
        setting = value.strip().lower() if isinstance(value, str) else value
        if setting not in CACHE_SETTINGS:
            raise bad(field, f"must be one of {', '.join(CACHE_SETTINGS)}, got {value!r}")
        return setting
    if field == "budget_period" and value not in PERIODS:
        raise bad(field, f"must be one of {', '.join(PERIODS)}")
    if field == "metadata":
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise bad(field, "must be a JSON object")
        try:
            size = len(orjson.dumps(value))
        except TypeError:
            raise bad(field, "must be a JSON object") from None
        if size > MAX_METADATA_BYTES:
            raise bad(field, f"must be at most {MAX_METADATA_BYTES} bytes of JSON")
        return dict(value)
    if field == "aliases":
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip() for k, v in value.items()
        ):
            raise bad(field, "must map model names to model names")
        return {k.strip(): v.strip() for k, v in value.items()}
    if field in ("rpm", "tpm", "max_parallel") and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT
    ):
        raise bad(field, f"must be a whole number from 1 to {MAX_COUNT}")
    if field == "tags":
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and k.strip() and isinstance(v, str) for k, v in value.items()
        ):
            raise bad(field, "must map names to text values")
        return {k.strip(): v for k, v in value.items()}
    if field == "expires_at":
        if not isinstance(value, datetime):
            raise bad(field, "must be a date and time")
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:59-23:59: past what a datetime holds in UTC
            raise bad(field, "is out of range") from None
    return value


def no_nul(field: str, value: Any) -> Any:
    """No text in a key or team may hold a NUL character (PostgreSQL cannot store one)."""
    texts = [*value.keys(), *value.values()] if isinstance(value, Mapping) else value
    texts = texts if isinstance(texts, list | tuple) else [texts]
    if any(isinstance(text, str) and "\x00" in text for text in texts):
        raise bad(field, "must not contain a NUL character")
    return value


def check_fields(given: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    if unknown := set(given) - allowed:
        raise TypeError(f"unknown fields: {', '.join(sorted(unknown))}")
    fields = {name: _clean(name, no_nul(name, value)) for name, value in given.items()}
    alias = fields.get("alias", "")
    if alias is None or alias.startswith("sk-") or _KEY_ID.fullmatch(alias):
        raise bad("alias", "a key needs an alias that does not look like a key or a key id")
    return fields


def check_new_expiry(expires_at: datetime | None, now: datetime | None = None) -> None:
    """A new key may not be born expired: its expiry, if any, must be later than now.

    (Changing an existing key's expiry to the past is allowed: it is a way to end the key.)
    """
    if expires_at is None:
        return
    moment = expires_at.replace(tzinfo=UTC) if expires_at.tzinfo is None else expires_at
    if moment <= (now or datetime.now(UTC)):
        raise bad("expires_at", f"{plain(moment)} is in the past: a new key must expire later than now")


def check_models(models: list[str] | None, configured: Collection[str]) -> None:
    """An allow-list names only models the config serves (a request's model must match a
    ``model_name`` exactly, so any other name could never be used)."""
    unknown = [m for m in models or [] if m not in configured]
    if unknown:
        names = ", ".join(repr(m) for m in unknown)
        known = ", ".join(list(configured)[:10]) + (", ..." if len(configured) > 10 else "")
        raise bad("models", f"{names} not in the config's model_list (it has: {known or 'no models'})")


def with_cache(metadata: Mapping[str, Any] | None, setting: str | None) -> dict[str, Any]:
    """``metadata`` with its ``cache`` entry as ``setting`` says: ``off`` ``false`` (denied),
    ``semantic`` ``{"semantic": true}`` (opted in), ``on`` or ``None`` none (the config decides).
    Every other entry is kept as it is."""
    kept = {name: value for name, value in (metadata or {}).items() if name != "cache"}
    if setting in _CACHE_METADATA:
        kept["cache"] = _CACHE_METADATA[str(setting)]
    return kept


def cache_setting(metadata: Mapping[str, Any] | None) -> str:
    """A key's or team's ``metadata.cache`` for people: ``on`` (none), ``off``, ``semantic``, or
    ``custom`` (other controls, e.g. ``{"no-store": true}``, set through LiteLLM's API)."""
    if not metadata or "cache" not in metadata:
        return "on"
    setting = metadata["cache"]
    flags = [setting.get(name) for name in ("no-cache", "no-store")] if isinstance(setting, Mapping) else []
    if setting is False or flags == [True, True]:
        return "off"
    return "semantic" if setting == _CACHE_METADATA["semantic"] else "custom"


def default_period(fields: dict[str, Any], current: str | None = None) -> None:
    """A budget without a period is a monthly budget."""
    if fields.get("budget_usd") is not None and fields.get("budget_period", current) is None:
        fields["budget_period"] = DEFAULT_PERIOD
