"""Admin API for the live monitors: ``GET /admin/monitors/...``, the same data as the CLI.

- ``/admin/monitors/drift/status``: ``llmgate drift status``
- ``/admin/monitors/drift/report``: ``llmgate drift report`` (``model``, ``route``, ``window``)
- ``/admin/monitors/drift/history``: statistics over time, for charts
- ``/admin/monitors/quality/report``: ``llmgate quality report`` (``model``, ``window``, ``by_feedback``)
- ``/admin/monitors/alerts``: monitor alerts and conditions, open and resolved

The master key or an admin key. Plain ``def`` handlers: FastAPI runs them in its thread pool, off the event
loop, while the store is read and statistics are computed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from llmgate.server.deps import app_state, require_admin, schema_ready
from llmgate.server.params import check_window, refuse_nul

router = APIRouter(
    prefix="/admin/monitors",
    tags=["monitors"],
    dependencies=[Depends(refuse_nul), Depends(require_admin), Depends(schema_ready)],
)

_WINDOW = "The current window: `1h`, `24h`, `30m` or a number of requests. Default: the config's."


# The store, reports and monitors modules are imported in the handlers: this module loads when the
# admin app is built (even for a /metrics scrape), SQLAlchemy and numpy only when a handler needs them.
@router.get("/drift/status", summary="Monitor status per model and route")
def drift_status(request: Request) -> dict[str, Any]:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.monitors.reports import drift_status as status

    state = app_state(request)
    return status(state.engine, state.config.llmgate.monitors)


@router.get("/drift/report", summary="Drift statistics now, with thresholds and grown topics")
def drift_report(
    request: Request,
    model: Annotated[str | None, Query(description="Only this model (alias).")] = None,
    route: Annotated[str | None, Query(description="Only this route.")] = None,
    window: Annotated[str | None, Query(description=_WINDOW)] = None,
) -> dict[str, Any]:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.monitors.reports import drift_report as report

    state = app_state(request)
    return report(
        state.engine,
        state.config.llmgate.monitors,
        now=datetime.now(UTC),
        model=model,
        route=route,
        window=check_window(window),
    )


@router.get("/drift/history", summary="Drift statistics over time")
def drift_history(
    request: Request,
    model: Annotated[str | None, Query(description="Only this model (alias).")] = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5000,
) -> dict[str, Any]:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.monitors.reports import plain_json
    from llmgate.store.monitors import stats_history

    state = app_state(request)
    return plain_json({"statistics": stats_history(state.engine, model=model, limit=limit)})


@router.get("/quality/report", summary="Retrieval quality of RAG requests")
def quality_report(
    request: Request,
    model: Annotated[str | None, Query(description="Only this model (alias).")] = None,
    window: Annotated[str | None, Query(description=_WINDOW)] = None,
    by_feedback: Annotated[
        bool, Query(description="Split by the users' rating of the requests: good, bad, unrated.")
    ] = False,
) -> dict[str, Any]:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.monitors.reports import quality_report as report

    state = app_state(request)
    return report(
        state.engine,
        state.config.llmgate.monitors,
        now=datetime.now(UTC),
        model=model,
        window=check_window(window),
        by_feedback=by_feedback,
    )


@router.get("/alerts", summary="Monitor conditions (open and resolved) and their alerts")
def monitor_alerts(
    request: Request,
    active: Annotated[bool | None, Query(description="Only open (true) or resolved (false) ones.")] = None,
) -> dict[str, Any]:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.monitors.reports import plain_json
    from llmgate.store.monitors import conditions

    state = app_state(request)
    return plain_json({"conditions": conditions(state.engine, active=active)})
