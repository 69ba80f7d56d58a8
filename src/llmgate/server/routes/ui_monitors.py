"""The dashboard's Monitors data under ``/ui/api/monitors/``: drift over time, the 2-D projection,
retrieval quality.

- ``GET /ui/api/monitors/drift``: each monitored model and route's status (``drift_status``, as
  ``llmgate drift status``; alerting groups first, then drifted ones, so the page opens on what
  needs looking at), its drift statistics over the range with their thresholds
  (``monitors.timeline``), and the conditions (alerts) open or raised in the range.
- ``GET /ui/api/monitors/projection``: reference and current prompt embeddings of one model and
  route on the reference's first two principal components (``fit=pooled``: of both windows;
  ``monitors.projection``), at most 500 points each.
- ``GET /ui/api/monitors/quality``: the retrieval-quality window means over the range with their
  thresholds, and ``quality_report`` over the range (as ``llmgate quality report``: means, low
  tails, the worst requests, each with its ``/ui/requests/ID`` page).

Ranges as the other dashboard data (``ui_common.time_range``). Every route needs a dashboard login or
an admin key. Plain ``def`` handlers: FastAPI runs them in its thread pool, off the event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from llmgate.server.deps import app_state, schema_ready
from llmgate.server.params import check_window, refuse_nul
from llmgate.server.ui_auth import require_ui_admin
from llmgate.server.ui_common import Since, Until, json_response, time_range

router = APIRouter(
    prefix="/ui/api/monitors",
    include_in_schema=False,
    dependencies=[Depends(refuse_nul), Depends(require_ui_admin), Depends(schema_ready)],
)

Model = Annotated[str | None, Query(description="Only this model (alias).")]
Route = Annotated[str | None, Query(description="Only this route, e.g. chat/completions.")]


def _settings_info(request: Request) -> dict[str, Any]:
    settings = app_state(request).config.llmgate.monitors
    return {
        "enabled": settings.enabled,
        "window": settings.drift.window,
        "reference_size": settings.drift.reference_size,
        "min_samples": settings.drift.min_samples,
    }


# The store, reports and monitors modules are imported in the handlers: this module loads when the
# admin app is built (even for a /metrics scrape), SQLAlchemy and numpy only when a handler needs them.
@router.get("/drift")
def drift(
    request: Request, since: Since = None, until: Until = None, model: Model = None, route: Route = None
) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.monitors.reports import attention_first, drift_status
    from llmgate.monitors.timeline import drift_timeline

    state = app_state(request)
    start, end = time_range(state, since, until)
    settings = state.config.llmgate.monitors
    status = drift_status(state.engine, settings)
    groups = [
        g
        for g in attention_first(status["groups"])
        if (model is None or g["model"] == model) and (route is None or g["route"] == route)
    ]
    timeline = drift_timeline(state.engine, settings, since=start, until=end, model=model, route=route)
    return json_response({"settings": _settings_info(request), "groups": groups, **timeline})


@router.get("/projection")
def projection(
    request: Request,
    model: Model = None,
    route: Route = None,
    window: Annotated[str | None, Query(description="The current window: 1h, 24h or N requests.")] = None,
    limit: Annotated[int, Query(ge=2, le=500)] = 500,
    fit: Annotated[
        Literal["reference", "pooled"], Query(description="Axes fitted on the reference or on both windows.")
    ] = "reference",
) -> Response:
    # SQLAlchemy (the store) and numpy: off the gateway process until this endpoint is called
    from llmgate.monitors.projection import project_prompts
    from llmgate.store.monitors import sample_groups

    state = app_state(request)
    check_window(window)
    groups = [(m, r) for m, r, _, _ in sample_groups(state.engine)]
    if model is None or route is None:
        chosen = next((g for g in groups if model in (None, g[0]) and route in (None, g[1])), None)
        if chosen is None:
            return json_response({"groups": [], "projection": None})
        model, route = chosen
    settings = state.config.llmgate.monitors
    data = project_prompts(
        state.engine, settings, model, route, now=datetime.now(UTC), window=window, limit=limit, fit=fit
    )
    listed = [{"model": m, "route": r} for m, r in groups]
    return json_response({"groups": listed, "projection": data})


@router.get("/quality")
def quality(request: Request, since: Since = None, until: Until = None, model: Model = None) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.monitors.reports import quality_report
    from llmgate.monitors.timeline import drift_timeline

    state = app_state(request)
    start, end = time_range(state, since, until)
    settings = state.config.llmgate.monitors
    timeline = drift_timeline(state.engine, settings, since=start, until=end, model=model, kinds=("rag",))
    now = datetime.now(UTC)
    window = f"{max(1, int((now - start).total_seconds()))}s"
    report = quality_report(state.engine, settings, now=now, model=model, window=window)
    for group in report["groups"]:
        for worst in group.get("worst", []):
            worst["url"] = f"/ui/requests/{worst['record_id']}"
    return json_response(
        {
            "since": timeline["since"],
            "until": timeline["until"],
            "settings": _settings_info(request) | {"rag_enabled": settings.rag.enabled},
            "series": timeline["series"],
            "downsampled": timeline["downsampled"],
            "report": report,
        }
    )
