"""The admin API under ``/admin/`` (FastAPI, in the OpenAPI schema): the master key or an admin key.

``require_admin`` is the dependency every admin route uses. Key and team routes live in
``admin_keys.py``, spend reports in ``admin_spend.py``; ``routers()`` gathers them for
``build_admin``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request

from llmgate.errors import PermissionDenied

if TYPE_CHECKING:
    from llmgate.auth.keys import Identity
    from llmgate.server.app import AppState


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


def routers() -> list[APIRouter]:
    from llmgate.server.routes import (
        admin_keys,
        admin_monitors,
        admin_spend,
        metrics,
        ui,
        ui_api,
        ui_evals,
        ui_monitors,
        ui_requests,
    )

    data = [ui_api.router, ui_requests.router, ui_monitors.router, ui_evals.router]
    dashboard = [*data, ui.router, ui.root]  # the dashboard at /ui, and its icon at /favicon.ico
    return [admin_keys.router, admin_spend.router, admin_monitors.router, metrics.router, *dashboard]


__all__: list[Any] = ["Admin", "app_state", "require_admin", "routers"]
