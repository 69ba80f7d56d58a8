"""The dashboard's pages at ``/ui``: login and logout, the HTML pages and their static assets.

Login is throttled (``ui_throttle.py``: failures per client address and per key prefix, 429 with
``Retry-After`` past ``llmgate.ui.max_login_failures_per_minute``) and starts a session in the
store; logout ends it there, so a copy of the cookie is refused afterwards on every replica.

Pages are plain HTML files in ``llmgate/ui/static/`` (``NAME.html`` with its ``NAME.js``, the
shared ``common.js`` and ``app.css``, Chart.js vendored under ``vendor/``): every byte is served
by llmgate itself, so the dashboard works offline. A page carries no data; its script fetches
the JSON under ``/ui/api/`` (``ui_api.py``, ``ui_requests.py``). Pages need a login
(``require_ui_page``), and so does all data; the assets (scripts, styles) do not.

``GET /ui/NAME`` serves ``NAME.html`` when the file exists: a new page is a new pair of files
(plus its data routes), with no route to add here. ``GET /ui/requests/ID`` is the request page.
Every answer forbids framing and caching, and a Content-Security-Policy allows only this origin.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, RedirectResponse
from starlette.responses import HTMLResponse, Response

from llmgate.errors import StoreError
from llmgate.server.deps import app_state
from llmgate.server.params import refuse_nul
from llmgate.server.ui_auth import (
    LOGIN_PATH,
    NO_MASTER_KEY,
    UiPageDep,
    begin_session,
    clear_session_cookie,
    current_admin,
    end_session,
    key_login,
    master_key,
    safe_next,
    set_session_cookie,
)
from llmgate.server.ui_common import cross_site as _cross_site  # a form posted from another site
from llmgate.server.ui_throttle import LoginThrottle, address_bucket, prefix_bucket
from llmgate.ui import static_dir as ui_static

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(refuse_nul)])
#: what browsers ask of the site's root: the icon (a 404 there fills every access log)
root = APIRouter(include_in_schema=False)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers post forms with Origin: null
}
_ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".md": "text/plain; charset=utf-8",
}
_PAGE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_NOT_PAGES = frozenset({"login", "request", "not-found"})
_MAX_FORM_BYTES = 8192
WRONG_KEY = "That key does not open the dashboard. Use the master key or an admin key."
NO_SESSION = "The dashboard cannot start a session: the store is unavailable. Try again shortly."


def static_dir() -> Path:
    return ui_static()


def _html(text: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", **(headers or {})}
    return HTMLResponse(text, status_code=status, headers=headers)


def page_response(name: str) -> HTMLResponse:
    """The page ``NAME.html`` (for pages that add their own route)."""
    return _html((static_dir() / f"{name}.html").read_text(encoding="utf-8"))


def _login_page(
    message: str = "",
    next_path: str = "",
    status: int = 200,
    *,
    disabled: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    text = (static_dir() / "login.html").read_text(encoding="utf-8")
    text = text.replace("{{message}}", html.escape(message)).replace("{{next}}", html.escape(next_path))
    text = text.replace("{{message_class}}", "message" if message else "message hidden")
    text = text.replace("{{form_class}}", "hidden" if disabled else "")
    return _html(text, status, headers)


def _throttle(request: Request) -> LoginThrottle:
    """This app's count of failed logins (``ui_throttle.py``), made on the first login."""
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        limit = app_state(request).config.llmgate.ui.max_login_failures_per_minute
        throttle = request.app.state.login_throttle = LoginThrottle(limit)
    return throttle


# --- login and logout ---------------------------------------------------------------------------


@router.get("/login")
async def login_form(
    request: Request, next_path: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    if master_key(app_state(request)) is None:
        return _login_page(NO_MASTER_KEY, status=403, disabled=True)
    if await current_admin(request) is not None:
        return RedirectResponse(safe_next(next_path), status_code=303)
    return _login_page(next_path=safe_next(next_path))


@router.post("/login")
async def login(request: Request) -> Response:
    state = app_state(request)
    master = master_key(state)
    if master is None:
        return _login_page(NO_MASTER_KEY, status=403, disabled=True)
    if _cross_site(request):
        return _login_page("Log in from this page.", status=403)
    body = await request.body()
    form = parse_qs(body[:_MAX_FORM_BYTES].decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    target = safe_next((form.get("next") or [""])[0])
    buckets = [address_bucket(request.client.host if request.client else None)]
    buckets += [b for b in (prefix_bucket(key),) if b is not None]
    throttle = _throttle(request)
    wait = throttle.retry_after(buckets)
    if wait is not None:  # even a right key waits: the count says someone is guessing
        message = f"Too many failed logins. Try again in {wait} seconds."
        return _login_page(message, target, status=429, headers={"Retry-After": str(wait)})
    admin = await key_login(state, key) if key else None
    if admin is None:
        throttle.failed(buckets)
        return _login_page(WRONG_KEY, target, status=401)
    try:
        session_id = await begin_session(request, admin)
    except StoreError:
        return _login_page(NO_SESSION, target, status=503)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, admin, master, session_id)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    if _cross_site(request):
        return Response("Log out from the dashboard.", status_code=403, media_type="text/plain")
    try:
        await end_session(request)
    except StoreError:  # keep the cookie: the session is not over, and logging out must be retried
        message = (
            "Not logged out: the store is unavailable, so the session cannot be ended. Try again shortly."
        )
        return Response(message, status_code=503, media_type="text/plain", headers={"Retry-After": "5"})
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    clear_session_cookie(response)
    return response


# --- assets and pages ---------------------------------------------------------------------------


@router.get("/static/{path:path}")
async def asset(path: str) -> Response:
    root = static_dir().resolve()
    file = (root / path).resolve()
    kind = _ASSET_TYPES.get(file.suffix)
    if kind is None or not file.is_relative_to(root) or not file.is_file():
        return Response("Not found", status_code=404, media_type="text/plain")
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return FileResponse(file, media_type=kind, headers=headers)


@root.get("/favicon.ico")
async def favicon() -> Response:
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return FileResponse(static_dir() / "favicon.ico", media_type=_ASSET_TYPES[".ico"], headers=headers)


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse("/ui/overview" + query, status_code=303)


@router.get("/requests/{record_id}")
async def request_page(record_id: str, admin: UiPageDep) -> Response:
    return page_response("request")


@router.get("/{name}")
async def page(name: str, admin: UiPageDep) -> Response:
    if _PAGE.match(name) and name not in _NOT_PAGES and (static_dir() / f"{name}.html").is_file():
        return page_response(name)
    text = (static_dir() / "not-found.html").read_text(encoding="utf-8")
    return _html(text.replace("{{name}}", html.escape(name)), 404)
