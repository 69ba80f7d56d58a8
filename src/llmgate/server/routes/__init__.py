"""The HTTP surfaces, one module per surface; ``routers()`` lists the FastAPI ones.

``openai`` holds the lean ASGI handlers of the ``/v1`` proxy and the health probes, which the app
calls directly. Every other module is a FastAPI router of the admin app, gathered by ``routers()``
in the order they are included. Route modules never import each other: what several share lives
in ``server/deps.py`` (dependencies), ``server/ui_auth.py`` (dashboard login) and
``server/ui_common.py`` (dashboard range and JSON helpers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["routers"]


def routers() -> list[APIRouter]:
    """The admin app's routers: the admin API, the metrics, the dashboard's data and pages."""
    # FastAPI and the admin modules load only when the admin app is built (on the first non-/v1
    # request), never when the gateway starts: app.py imports this package for ``openai`` alone.
    from llmgate.server.routes import (
        admin_cache,
        admin_canary,
        admin_datasets,
        admin_feedback,
        admin_keys,
        admin_monitors,
        admin_ops,
        admin_sessions,
        admin_spend,
        litellm_keys,
        litellm_models,
        litellm_spend,
        litellm_teams,
        litellm_users,
        metrics,
        ui,
        ui_api,
        ui_canaries,
        ui_datasets,
        ui_evals,
        ui_monitors,
        ui_ops,
        ui_requests,
        ui_sessions,
    )

    data = [
        ui_api.router,
        ui_requests.router,
        ui_sessions.router,
        ui_monitors.router,
        ui_evals.router,
        ui_ops.router,
        ui_canaries.router,
        ui_datasets.router,
    ]
    dashboard = [*data, ui.router, ui.root]  # the dashboard at /ui, and its icon at /favicon.ico
    # LiteLLM's management API (/key, /user, /team, /spend, /model...) on llmgate's keys and spend
    litellm = [litellm_keys, litellm_users, litellm_teams, litellm_spend, litellm_models]
    admin = [
        admin_keys.router,
        admin_spend.router,
        admin_ops.router,
        admin_sessions.router,
        admin_feedback.router,
        admin_datasets.router,
        admin_canary.router,
        admin_monitors.router,
        admin_cache.router,
        metrics.router,
    ]
    return [*admin, *(module.router for module in litellm), *dashboard]
