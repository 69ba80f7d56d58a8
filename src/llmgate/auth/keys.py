"""The one place where a request's API key is checked.

With ``general_settings.master_key`` set, every ``/v1`` request needs
``Authorization: Bearer <key>`` (``api-key: <key>`` is accepted too, as Azure clients send
it). Without a master key the gateway is open, as LiteLLM's proxy is. Keys are compared in
constant time and never logged or recorded: the record keeps only the identity's name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from llmgate.errors import AuthenticationError

MASTER = "master"
#: virtual keys look like OpenAI's: ``sk-lg-`` and 43 URL-safe characters (256 random bits)
KEY_PREFIX = "sk-lg-"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


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
    name: str | None
    is_admin: bool = False


ANONYMOUS = Identity(name=None)


def bearer_token(authorization: str | None, api_key_header: str | None = None) -> str | None:
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return api_key_header.strip() if api_key_header else None


class Authenticator:
    def __init__(self, master_key: str | None) -> None:
        self._master = master_key.encode() if master_key else None

    @property
    def required(self) -> bool:
        return self._master is not None

    def authenticate(self, authorization: str | None, api_key_header: str | None = None) -> Identity:
        if self._master is None:
            return ANONYMOUS
        token = bearer_token(authorization, api_key_header)
        if token is None:
            raise AuthenticationError(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                code="missing_api_key",
            )
        if hmac.compare_digest(token.encode(), self._master):
            return Identity(name=MASTER, is_admin=True)
        raise AuthenticationError("Incorrect API key provided.")
