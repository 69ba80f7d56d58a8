"""What one request may do with the cache: its own controls, its headers', its key's and team's.

The request body's ``cache`` object (LiteLLM's): ``{"no-cache": true}`` (do not read the cache,
store the fresh answer), ``{"no-store": true}`` (do not store it), ``{"ttl": N}`` (keep the new
entry N seconds), ``{"s-maxage": N}`` (accept an entry only if younger than N seconds) and
``{"namespace": "..."}``. ``Cache-Control: no-cache``, ``no-store`` and ``max-age=N`` say the same
in HTTP. The ``cache`` field is taken out of the body: it never reaches an upstream.

A key's or a team's ``metadata.cache`` set to ``false`` (or ``{"no-cache": true, "no-store":
true}``) denies its requests the cache; ``{"semantic": true}`` opts it into the semantic cache;
``{"no-cache": true}`` or ``{"no-store": true}`` alone applies to all its requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmgate.errors import InvalidRequest

__all__ = ["Directives", "read_directives"]

_FLAGS = ("no-cache", "no-store")
_NUMBERS = ("ttl", "s-maxage")
#: LiteLLM's other per-request controls: accepted, no effect here
_IGNORED = frozenset({"use-cache"})
#: the longest lifetime a request may ask for (a year): Redis refuses a TTL past its integer range,
#: and a refused write counts against the backend for every tenant (guard.py skips it after three)
MAX_TTL_S = 366 * 24 * 3600
#: the longest namespace a request may name (it is part of every key it reads and writes)
MAX_NAMESPACE_CHARS = 128


@dataclass(slots=True)
class Directives:
    no_cache: bool = False  # do not read
    no_store: bool = False  # do not write
    ttl_s: float | None = None  # the new entry's lifetime
    max_age_s: float | None = None  # the oldest entry accepted
    namespace: str | None = None
    semantic: bool = False  # the key or team opted into the semantic cache

    @property
    def denied(self) -> bool:
        return self.no_cache and self.no_store


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidRequest(f"{where} must be a number of seconds", param="cache")
    try:
        number = float(value)
    except ValueError:
        raise InvalidRequest(f"{where} must be a number of seconds", param="cache") from None
    if not number >= 0 or number == float("inf"):
        raise InvalidRequest(f"{where} must be a number of seconds, 0 or more", param="cache")
    return number


def _from_request(directives: Directives, field: Any) -> None:
    if field is None:
        return
    if not isinstance(field, dict):
        raise InvalidRequest('"cache" must be an object such as {"no-cache": true}', param="cache")
    for name, value in field.items():
        if name in _FLAGS:
            if not isinstance(value, bool):
                raise InvalidRequest(f"cache.{name} must be true or false", param="cache")
            if value:
                setattr(directives, name.replace("-", "_"), True)
        elif name in _NUMBERS:
            number = _number(value, f"cache.{name}")
            if name == "ttl":
                if number > MAX_TTL_S:
                    raise InvalidRequest(f"cache.ttl must be at most {MAX_TTL_S} seconds", param="cache")
                directives.ttl_s = number
            else:
                directives.max_age_s = number
        elif name == "namespace":
            if not isinstance(value, str) or not value or len(value) > MAX_NAMESPACE_CHARS:
                raise InvalidRequest(
                    f"cache.namespace must be a string of 1 to {MAX_NAMESPACE_CHARS} characters",
                    param="cache",
                )
            directives.namespace = value
        elif name not in _IGNORED:
            raise InvalidRequest(
                f"unknown cache control {name!r} (use no-cache, no-store, ttl, s-maxage or namespace)",
                param="cache",
            )


def _from_header(directives: Directives, value: str | None) -> None:
    """``Cache-Control``: ``no-cache``, ``no-store``, ``max-age=N``; other directives are ignored."""
    if not value:
        return
    for item in value.split(","):
        name, _, argument = item.strip().partition("=")
        name = name.strip().lower()
        if name == "no-cache":
            directives.no_cache = True
        elif name == "no-store":
            directives.no_store = True
        elif name in ("max-age", "s-maxage"):
            try:
                age = float(argument.strip().strip('"'))
            except ValueError:
                continue  # RFC 9111: an invalid max-age is ignored
            if age >= 0:
                current = directives.max_age_s
                directives.max_age_s = age if current is None else min(current, age)


def _from_owner(directives: Directives, metadata: Mapping[str, Any] | None) -> None:
    """A key's or team's ``metadata.cache``."""
    if not metadata or "cache" not in metadata:
        return
    setting = metadata["cache"]
    if setting is False:
        directives.no_cache = directives.no_store = True
    elif isinstance(setting, dict):
        for name in _FLAGS:
            if setting.get(name) is True:
                setattr(directives, name.replace("-", "_"), True)
        if setting.get("semantic") is True:
            directives.semantic = True


def read_directives(
    body: dict[str, Any],
    headers: Mapping[str, str],
    key_metadata: Mapping[str, Any] | None = None,
    team_metadata: Mapping[str, Any] | None = None,
) -> Directives:
    """The request's cache controls; its ``cache`` field is taken out of ``body``."""
    directives = Directives()
    _from_request(directives, body.pop("cache", None))
    _from_header(directives, headers.get("cache-control"))
    _from_owner(directives, team_metadata)
    _from_owner(directives, key_metadata)
    return directives
