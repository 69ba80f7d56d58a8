"""The FastAPI dependencies every admin and dashboard route shares: the app's state, the admin check,
and the store's schema brought up to date before the dashboard reads it.

Route modules import these from here and never from each other; the dashboard's own login
dependencies (``require_ui_admin``, ``require_ui_page``) are in ``ui_auth.py``.

``schema_ready``: the gateway migrates its store lazily (the first record, the first virtual key),
so a dashboard opened on a new store could otherwise answer "no such table" instead of an empty
page. The schema is checked (and brought up to date) once per app, after the caller is known to
be an admin: ``schema_ready`` comes after ``require_ui_admin`` in a router's dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from llmgate.errors import PermissionDenied

if TYPE_CHECKING:
    from llmgate.auth.keys import Identity
    from llmgate.server.app import AppState

__all__ = ["Admin", "app_state", "require_admin", "schema_ready"]


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.llmgate
    return state


async def require_admin(request: Request) -> Identity:
    """The caller must present the master key or an admin key (as ``Authorization: Bearer``).

    Asynchronous so that an admin key is recognised even before this process has loaded the
    virtual keys (the first key that needs them loads them).
    """
    state = app_state(request)
    identity = await state.authenticator.aauthenticate(
        request.headers.get("authorization"), request.headers.get("api-key")
    )
    if not identity.is_admin:
        raise PermissionDenied("The admin API needs the master key or an admin key.")
    return identity


Admin = Annotated["Identity", Depends(require_admin)]


def schema_ready(request: Request) -> None:
    """Migrate the store to the newest schema the first time this app needs it (in a thread)."""
    if getattr(request.app.state, "ui_schema_ready", False):
        return
    # SQLAlchemy and the store's tables load when a dashboard route first needs them, not when
    # the admin app is built (a gateway that only serves /v1 and /metrics never loads them)
    from llmgate.store.evals import ensure_schema

    ensure_schema(app_state(request).engine)
    request.app.state.ui_schema_ready = True
