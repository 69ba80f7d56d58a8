"""LiteLLM's management-API fields, said in llmgate's terms: one rule per field, for every route.

Teams moving from LiteLLM's proxy keep their scripts: ``/key/generate``, ``/user/new``,
``/team/new``... send LiteLLM's names (``key_alias``, ``max_budget``, ``budget_duration``,
``tpm_limit``, ``duration``...). ``key_values``, ``user_values`` and ``team_values`` turn such a
body into the fields ``auth/key_admin.py`` and ``auth/user_admin.py`` take, which then apply
``auth/key_fields.py``'s rules as for the CLI and ``/admin``.

What cannot be said in llmgate's terms is refused with a 400 naming the field, never dropped in
silence: a ``budget_duration`` other than a day, a week or a month (llmgate's budgets reset on
calendar boundaries in ``llmgate.time_zone``: ``config/budget_periods.py``), and any field llmgate
does not implement given a value (``soft_budget``, ``permissions``, ``guardrails``...). Such a
field sent empty (``null``, ``{}``, ``[]``, ``false``) is accepted, as LiteLLM's SDKs send them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from llmgate.auth.key_fields import bad
from llmgate.config.budget_periods import PERIODS

#: LiteLLM's budget_duration (lower case, spaces removed) -> llmgate's budget period
_PERIOD_OF = {
    "1d": "daily",
    "24h": "daily",
    "daily": "daily",
    "7d": "weekly",
    "1w": "weekly",
    "weekly": "weekly",
    "30d": "monthly",
    "1mo": "monthly",
    "monthly": "monthly",
}
_DURATION = re.compile(
    r"(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|weeks?|mo|months?)"
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: a LiteLLM field with a value outside these sets is refused rather than ignored
_KEY_FIELDS = {
    "key_alias": "alias",
    "models": "models",
    "max_budget": "budget_usd",
    "budget_duration": "budget_period",
    "tpm_limit": "tpm",
    "rpm_limit": "rpm",
    "max_parallel_requests": "max_parallel",
    "aliases": "aliases",
    "metadata": "metadata",
    "team_id": "team_id",
    "user_id": "user_id",
}
_USER_FIELDS = {
    "user_email": "email",
    "user_role": "role",
    "models": "models",
    "max_budget": "budget_usd",
    "budget_duration": "budget_period",
    "tpm_limit": "tpm",
    "rpm_limit": "rpm",
    "metadata": "metadata",
}
_TEAM_FIELDS = {
    "team_alias": "alias",
    "models": "models",
    "max_budget": "budget_usd",
    "budget_duration": "budget_period",
    "tpm_limit": "tpm",
    "rpm_limit": "rpm",
    "metadata": "metadata",
}
#: LiteLLM's "every model" spellings of an allow-list
_ALL_MODELS = ("all-proxy-models", "*")


def budget_period(duration: object) -> str | None:
    """llmgate's budget period for LiteLLM's ``budget_duration`` (``None`` stays ``None``)."""
    if duration is None:
        return None
    text = str(duration).strip().lower().replace(" ", "")
    if text in _PERIOD_OF:
        return _PERIOD_OF[text]
    raise bad(
        "budget_duration",
        f"{duration!r} cannot be mapped: llmgate budgets reset on calendar boundaries, "
        f"{', '.join(PERIODS)} (say 1d, 7d, or 30d / 1mo)",
    )


def expiry(duration: object, now: datetime | None = None) -> datetime | None:
    """The moment a key given LiteLLM's ``duration`` (``"30s"``, ``"20m"``, ``"1h"``, ``"7d"``,
    ``"2w"``, ``"1mo"``) expires; ``None`` (no duration) never expires."""
    if duration is None:
        return None
    match = _DURATION.fullmatch(str(duration).strip().lower())
    if match is None or int(match.group(1)) <= 0:
        raise bad("duration", f"{duration!r} is not a duration such as 30s, 20m, 1h, 7d, 2w or 1mo")
    count, unit = int(match.group(1)), match.group(2)
    start = now or datetime.now(UTC)
    if unit.startswith("mo"):
        month = start.month - 1 + count
        year, month = start.year + month // 12, month % 12 + 1
        if year > 9999:
            raise bad("duration", f"{duration!r} is too long")
        day = min(start.day, _days_in(year, month))
        return start.replace(year=year, month=month, day=day)
    seconds = count * _UNIT_SECONDS["m" if unit.startswith("mi") or unit == "m" else unit[0]]
    try:
        return start + timedelta(seconds=seconds)
    except OverflowError:
        raise bad("duration", f"{duration!r} is too long") from None


def _days_in(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _amount(value: object) -> object:
    """A JSON number as an exact amount (``key_fields`` refuses floats: 0.1 is not exact)."""
    if isinstance(value, float):
        try:
            return Decimal(repr(value))
        except InvalidOperation:  # pragma: no cover - repr of a float is always a number
            raise bad("max_budget", f"not an amount: {value!r}") from None
    return value


def _empty(value: object) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0
    return value is None or value is False or (isinstance(value, dict | list | str) and not value)


def _translate(body: Mapping[str, Any], names: Mapping[str, str], extra: frozenset[str]) -> dict[str, Any]:
    unsupported = sorted(k for k, v in body.items() if k not in names and k not in extra and not _empty(v))
    if unsupported:
        raise bad(unsupported[0], "is a LiteLLM field llmgate does not implement; leave it out")
    fields: dict[str, Any] = {}
    for litellm_name, name in names.items():
        if litellm_name not in body:
            continue
        value = body[litellm_name]
        if name == "budget_period":
            value = budget_period(value)
        elif name == "budget_usd":
            value = _amount(value)
        elif name == "models" and isinstance(value, list):
            value = None if not value or any(m in _ALL_MODELS for m in value) else value
        elif name in ("metadata", "aliases") and value is None:
            value = {}
        fields[name] = value
    return fields


def key_values(
    body: Mapping[str, Any], *, creating: bool, extra: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``auth/key_admin.py``'s fields for a LiteLLM key body (``/key/generate``, ``/key/update``).

    ``duration`` becomes ``expires_at``; a new key without ``key_alias`` is given one (llmgate's
    keys are named), ``litellm-`` and 8 random hex digits."""
    fields = _translate(body, _KEY_FIELDS, extra | {"key", "duration"})
    if "duration" in body and (creating or body["duration"] is not None):
        fields["expires_at"] = expiry(body["duration"])
    if creating and fields.get("alias") is None:
        fields["alias"] = "litellm-" + secrets.token_hex(4)
    return fields


def user_values(body: Mapping[str, Any], *, extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``auth/user_admin.py``'s fields for a LiteLLM user body (``/user/new``, ``/user/update``)."""
    return _translate(body, _USER_FIELDS, extra | {"user_id"})


def team_values(body: Mapping[str, Any], *, extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``auth/key_admin.py``'s team fields for a LiteLLM team body (``/team/new``, ``/team/update``)."""
    return _translate(body, _TEAM_FIELDS, extra | {"team_id"})
