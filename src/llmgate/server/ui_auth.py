"""Who may see the dashboard: signed session cookies and the FastAPI dependencies that check them.

Logging in at ``/ui/login`` with the master key or an admin key (a virtual key with the admin
role) starts a session in the store (``store/sessions.py``) and sets a cookie holding a signed
session, never the key: the session's random id, the subject (``"master"`` or the key's id), when
it was issued and when it expires (``SESSION_TTL``). It is signed with HMAC-SHA256 under a secret
derived from ``general_settings.master_key``, so every replica sharing the config accepts it and
changing the master key ends every session. The cookie is ``HttpOnly``, ``SameSite=Strict`` and
scoped to ``/ui``.

Every request re-validates the session: its id must still be in the store, so logging out (which
deletes it) ends it at once on every replica, and a copy of the cookie replayed afterwards is
refused; revoking, rotating or demoting an admin key deletes its sessions too. A key subject must
also still be a usable admin key in the registry (a change made straight in the database is seen
within the registry's poll interval). When the store cannot be asked, no session is accepted.
The JSON API also accepts ``Authorization: Bearer <admin key>``, for scripts. Without a master
key the dashboard is off: anyone could otherwise read every prompt.

- ``require_ui_admin``: for data (JSON, CSV); refuses with 401 (or 403) in OpenAI's error shape.
- ``require_ui_page``: for HTML pages; sends the browser to the login page instead.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import secrets
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
from llmgate.server.deps import app_state

if TYPE_CHECKING:
    from llmgate.server.app import AppState
    from llmgate.store.keys import KeyRow

log = logging.getLogger("llmgate.server")

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
    session_id: str = ""  # the store's session (``store/sessions.py``); a cookie without one is refused


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


def sign_session(
    secret: bytes,
    subject: str,
    *,
    session_id: str | None = None,
    now: float | None = None,
    ttl: int = SESSION_TTL,
) -> str:
    """The cookie value for session ``session_id`` of ``subject`` from ``now`` for ``ttl`` seconds."""
    issued = int(now if now is not None else time.time())
    sid = session_id if session_id is not None else secrets.token_urlsafe(32)  # one no store knows
    payload = _b64(orjson.dumps({"sid": sid, "sub": subject, "iat": issued, "exp": issued + ttl}))
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
    subject, issued, expires, sid = data.get("sub"), data.get("iat"), data.get("exp"), data.get("sid")
    if not isinstance(subject, str) or not isinstance(issued, int) or not isinstance(expires, int):
        return None
    if not isinstance(sid, str) or not sid:
        return None
    if expires <= (now if now is not None else time.time()):
        return None
    return Session(subject, issued, expires, sid)


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
    key = _key_by_id(state, subject)
    if key is None:  # a live session of a key made a moment ago, maybe on another replica
        try:
            await state.registry.refresh()
        except Exception:  # the store is down: a key session cannot be checked
            return None
        key = _key_by_id(state, subject)
    if key is None or not key.admin or not key.usable_at(datetime.now(UTC)):
        return None
    return UiAdmin(key.id, key.alias)


def _key_by_id(state: AppState, key_id: str) -> KeyRow | None:
    known = state.registry.keys()  # a list of rows (not a mapping)
    return next((key for key in known if key.id == key_id), None)


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
    session = cookie_session(request, master)
    if session is None or not await _session_live(state, session):
        return None
    return await _subject_admin(state, session.subject)


def cookie_session(request: Request, master: str) -> Session | None:
    """The signed session in this request's cookie (checked: signature, expiry), or ``None``."""
    cookie = request.cookies.get(COOKIE)
    return read_session(session_secret(master), cookie) if cookie else None


# store modules are imported where used: SQLAlchemy stays out of a gateway that never opens the dashboard


async def _session_live(state: AppState, session: Session) -> bool:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.store.sessions import session_live

    try:
        return await asyncio.to_thread(session_live, state.engine, session.session_id, session.subject)
    except StoreError as exc:  # the store cannot say the session is live: do not assume it
        log.warning("dashboard session not checked, refused: %s", exc.message)
        return False


async def begin_session(request: Request, admin: UiAdmin) -> str:
    """Start a session of ``admin`` in the store; its id, for the cookie. Raises ``StoreError``."""
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.store.migrate import upgrade
    from llmgate.store.sessions import start_session

    engine = app_state(request).engine
    if not getattr(request.app.state, "ui_sessions_ready", False):  # a new store: the table first
        await asyncio.to_thread(upgrade, engine)
        request.app.state.ui_sessions_ready = True
    return await asyncio.to_thread(start_session, engine, admin.subject, SESSION_TTL)


async def end_session(request: Request) -> None:
    """End this request's session in the store (every replica refuses it from now). Raises ``StoreError``."""
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.store.sessions import end_session as end

    master = master_key(app_state(request))
    session = cookie_session(request, master) if master is not None else None
    if session is not None:
        await asyncio.to_thread(end, app_state(request).engine, session.session_id)


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


def set_session_cookie(
    response: Response, request: Request, admin: UiAdmin, master: str, session_id: str
) -> None:
    response.set_cookie(
        COOKIE,
        sign_session(session_secret(master), admin.subject, session_id=session_id),
        max_age=SESSION_TTL,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
