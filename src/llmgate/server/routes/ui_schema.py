"""A dependency for dashboard data that reads tables a fresh store may not have yet.

The gateway migrates its store lazily (the first record, the first virtual key), so a dashboard
opened on a new store could otherwise answer "no such table" instead of an empty page. The
schema is checked (and brought up to date) once per app, after the caller is known to be an
admin: ``schema_ready`` comes after ``require_ui_admin`` in a router's dependencies.
"""

from __future__ import annotations

from fastapi import Request

from llmgate.server.routes.admin import app_state


def schema_ready(request: Request) -> None:
    """Migrate the store to the newest schema the first time this app needs it (in a thread)."""
    if getattr(request.app.state, "ui_schema_ready", False):
        return
    from llmgate.store.evals import ensure_schema

    ensure_schema(app_state(request).engine)
    request.app.state.ui_schema_ready = True
