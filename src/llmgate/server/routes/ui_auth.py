"""Who may see the dashboard: signed session cookies and the FastAPI dependencies that check them.

Logging in at ``/ui/login`` with the master key or an admin key (a virtual key with the admin
role) sets a cookie holding a signed session, never the key: the subject (``"master"`` or the
key's id), when it was issued and when it expires (``SESSION_TTL``). It is signed with HMAC-SHA256
under a secret derived from ``general_settings.master_key``, so every replica sharing the config
accepts it and changing the master key ends every session. The cookie is ``HttpOnly``,
``SameSite=Strict`` and scoped to ``/ui``.

Every request re-validates the session: a key subject must still be a usable admin key in the
registry, so revoking a key (or taking its admin role away) ends its sessions within the
registry's poll interval. The JSON API also accepts ``Authorization: Bearer <admin key>``, for
scripts. Without a master key the dashboard is off: anyone could otherwise read every prompt.

- ``require_ui_admin``: for data (JSON, CSV); refuses with 401 (or 403) in OpenAI's error shape.
- ``require_ui_page``: for HTML pages; sends the browser to the login page instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

import orjson
from fastapi import Depends, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from llmgate.auth.keys import MASTER
from llmgate.errors import AuthenticationError, PermissionDenied, StoreError
from llmgate.server.routes.admin import app_state

if TYPE_CHECKING:
    from llmgate.server.app import AppState

COOKIE = "llmgate_ui"
COOKIE_PATH = "/ui"
SESSION_TTL = 12 * 3600  # seconds
LOGIN_PATH = "/ui/login"
_CONTEXT = b"llmgate/ui-session/v1"
NO_MASTER_KEY = (
    "The dashboard is off: set general_settings.master_key in the config (it is also the key to "
    "log in with), then restart llmgate."
)


@dataclass(frozen=True, slots=True)
class Session:
    subject: str  # "master" or an admin key's id
    issued_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class UiAdmin:
    """Who is looking at the dashboard."""

    subject: str  # "master" or an admin key's id
    name: str  # "master" or the key's alias


# --- signing ----------------------------------------------------------------------------------


def session_secret(master_key: str) -> bytes:
    """The signing secret: derived from the master key, so replicas agree and never see it raw."""
    return hmac.new(master_key.encode(), _CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_session(secret: bytes, subject: str, *, now: float | None = None, ttl: int = SESSION_TTL) -> str:
    """The cookie value for a session of ``subject`` from ``now`` for ``ttl`` seconds."""
    issued = int(now if now is not None else time.time())
    payload = _b64(orjson.dumps({"sub": subject, "iat": issued, "exp": issued + ttl}))
    signature = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(signature)}"


def read_session(secret: bytes, token: str, *, now: float | None = None) -> Session | None:
    """The session in a cookie value, or ``None`` if it is malformed, tampered with or expired."""
    payload, dot, signature = token.partition(".")
    if not dot or len(token) > 1024:
        return None
    expected = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(signature), expected):
            return None
        data = orjson.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    subject, issued, expires = data.get("sub"), data.get("iat"), data.get("exp")
    if not isinstance(subject, str) or not isinstance(issued, int) or not isinstance(expires, int):
        return None
    if expires <= (now if now is not None else time.time()):
        return None
    return Session(subject, issued, expires)


# --- checking -----------------------------------------------------------------------------------


def master_key(state: AppState) -> str | None:
    master = state.config.general_settings.master_key
    return master.get_secret_value() if master else None


async def key_login(state: AppState, key: str) -> UiAdmin | None:
    """The admin a key logs in as, or ``None`` if it is not the master key or a usable admin key."""
    try:
        identity = await state.authenticator.aauthenticate("Bearer " + key)
    except (AuthenticationError, StoreError):
        return None
    if not identity.is_admin:
        return None
    if identity.key is not None:
        return UiAdmin(identity.key.id, identity.key.alias)
    return UiAdmin(MASTER, MASTER)


async def _subject_admin(state: AppState, subject: str) -> UiAdmin | None:
    if subject == MASTER:
        return UiAdmin(MASTER, MASTER)
    try:
        await state.registry.ensure_loaded()
    except Exception:  # the store is down: a key session cannot be checked
        return None
    moment = datetime.now(UTC)
    known = state.registry.keys()
    for key in known:
        if key.id == subject:
            return UiAdmin(key.id, key.alias) if key.admin and key.usable_at(moment) else None
    return None


async def current_admin(request: Request) -> UiAdmin | None:
    """The admin behind this request's session cookie (or bearer key), or ``None``."""
    state = app_state(request)
    master = master_key(state)
    if master is None:
        return None
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        return await key_login(state, token.strip()) if scheme.lower() == "bearer" else None
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    session = read_session(session_secret(master), cookie)
    return await _subject_admin(state, session.subject) if session is not None else None


async def require_ui_admin(request: Request) -> UiAdmin:
    """Dependency for the dashboard's data: a logged-in admin, else 401 (403 with the UI off)."""
    if master_key(app_state(request)) is None:
        raise PermissionDenied(NO_MASTER_KEY)
    admin = await current_admin(request)
    if admin is None:
        raise AuthenticationError(
            "Log in to the dashboard at /ui/login, or send 'Authorization: Bearer <admin key>'.",
            code="login_required",
        )
    return admin


async def require_ui_page(request: Request) -> UiAdmin:
    """Dependency for the dashboard's pages: a logged-in admin, else a redirect to the login page."""
    admin = await current_admin(request)
    if admin is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = f"{LOGIN_PATH}?next={quote(target, safe='')}"
        raise HTTPException(303, "Log in first.", headers={"Location": location, "Cache-Control": "no-store"})
    return admin


UiAdminDep = Annotated[UiAdmin, Depends(require_ui_admin)]
UiPageDep = Annotated[UiAdmin, Depends(require_ui_page)]


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a dashboard path, never another site."""
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/overview"


def set_session_cookie(response: Response, request: Request, admin: UiAdmin, master: str) -> None:
    response.set_cookie(
        COOKIE,
        sign_session(session_secret(master), admin.subject),
        max_age=SESSION_TTL,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
