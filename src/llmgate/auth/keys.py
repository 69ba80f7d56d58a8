"""The one place where a request's API key is checked.

With ``general_settings.master_key`` set, every ``/v1`` request needs
``Authorization: Bearer <key>`` (``api-key: <key>`` is accepted too, as Azure clients send
it). Without a master key the gateway is open, as LiteLLM's proxy is (so llmgate makes no keys
for it: ``config/master_key.py``). Virtual keys come from the ``KeyRegistry``; a well-formed one
it lacks is looked up in the store at once (a key made a moment ago works on its next request).
Keys are compared in constant time and never logged or recorded: the record keeps only the
identity's name.
The master key and a usable virtual key with the admin role (an admin key) are admins: they may
use the admin API and the dashboard. An admin key's own model calls keep its limits and budgets.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from llmgate.errors import AuthenticationError, StoreError

if TYPE_CHECKING:
    from llmgate.auth.registry import KeyRegistry
    from llmgate.store.keys import KeyRow, TeamRow

MASTER = "master"
#: virtual keys look like OpenAI's: ``sk-lg-`` and 43 URL-safe characters (256 random bits)
KEY_PREFIX = "sk-lg-"
_KEY_SHAPE = re.compile(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_-]{43}")


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def is_key_shaped(token: str) -> bool:
    """Whether ``token`` looks like a key ``generate_key`` makes (only those are looked up)."""
    return _KEY_SHAPE.fullmatch(token) is not None


def generate_key_id() -> str:
    """The public id of a key: in lists, records and reports, never usable as a key."""
    return "key_" + secrets.token_hex(6)


def hash_key(key: str) -> str:
    """SHA-256 hex: keys carry 256 random bits, so a fast hash is safe and lookups stay O(1)."""
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 4]


@dataclass(frozen=True, slots=True)
class Identity:
    name: str | None  # "master", a key's alias, or None (open gateway)
    is_admin: bool = False  # the master key, or an admin key
    key: KeyRow | None = None
    team: TeamRow | None = None


ANONYMOUS = Identity(name=None)
MASTER_IDENTITY = Identity(name=MASTER, is_admin=True)


def bearer_token(authorization: str | None, api_key_header: str | None = None) -> str | None:
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return api_key_header.strip() if api_key_header else None


def api_key_header(headers: Mapping[str, str]) -> str | None:
    """The key sent without ``Authorization``: ``api-key`` (Azure's clients), ``x-api-key`` (Anthropic's)."""
    return headers.get("api-key") or headers.get("x-api-key")


class Authenticator:
    """Checks the master key and, through the ``KeyRegistry``, virtual keys."""

    def __init__(self, master_key: str | None, registry: KeyRegistry | None = None) -> None:
        self._master = master_key.encode() if master_key else None
        self.registry = registry

    @property
    def required(self) -> bool:
        return self._master is not None

    def authenticate(self, authorization: str | None, api_key_header: str | None = None) -> Identity:
        """Synchronous check: virtual keys are known only once the registry has loaded."""
        return self._identify(bearer_token(authorization, api_key_header))

    def _identify(self, token: str | None) -> Identity:
        master = self._master
        if token is not None and master is not None and hmac.compare_digest(token.encode(), master):
            return MASTER_IDENTITY
        if token is not None and self.registry is not None and self.registry.loaded:
            key = self.registry.lookup(hash_key(token))
            if key is not None:
                now = datetime.now(UTC)
                if key.revoked_at is not None:
                    raise AuthenticationError("This API key has been revoked.", code="key_revoked")
                if key.expires_at is not None and key.expires_at <= now:
                    raise AuthenticationError("This API key has expired.", code="key_expired")
                team = self.registry.team(key.team_id)
                return Identity(name=key.alias, is_admin=key.admin, key=key, team=team)
        if self._master is None:
            return ANONYMOUS
        if token is None:
            raise AuthenticationError(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                code="missing_api_key",
            )
        raise AuthenticationError("Incorrect API key provided.")

    async def aauthenticate(self, authorization: str | None, api_key_header: str | None = None) -> Identity:
        """As ``authenticate``, loading the virtual keys first if this is the first that needs them,
        and asking the store about a well-formed key they lack (made a moment ago, perhaps on
        another replica), at the bounded rate the registry allows."""
        registry = self.registry
        token = bearer_token(authorization, api_key_header)
        if registry is not None and token is not None and token.startswith(KEY_PREFIX):
            if not registry.loaded:
                try:
                    await registry.ensure_loaded()
                except Exception as exc:
                    raise StoreError("Virtual keys cannot be checked: the store is unavailable.") from exc
            if is_key_shaped(token):
                key_hash = hash_key(token)
                if registry.lookup(key_hash) is None:
                    await registry.fetch(key_hash)
        return self._identify(token)
