"""Admin API for operations: ``GET /admin/report/ops`` (JSON or CSV), as ``llmgate report ops``.

Per alert kind the mean time to detect and to resolve, availability per model group and
deployment with and without fallbacks, fallback and retry rates, canary outcomes and monitoring
coverage over ``[since, until)``. Master key (or an admin key) only. The handler is thin:
parameters in, ``llmgate.reports.ops`` for the numbers and their formats, so the API, the CLI and
the dashboard always agree. A plain ``def`` route: FastAPI runs it in its thread pool, off the
event loop, while the store counts.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from llmgate.config.time_range import parse_range
from llmgate.server.deps import app_state, require_admin, schema_ready
from llmgate.server.params import refuse_nul

router = APIRouter(
    prefix="/admin/report",
    tags=["reports"],
    dependencies=[Depends(refuse_nul), Depends(require_admin), Depends(schema_ready)],
)

_BOUND = (
    "A local date in `llmgate.time_zone` (`2026-11-01`: midnight there), an ISO datetime "
    "(`2026-11-01T09:00`, in `llmgate.time_zone` unless it has an offset) or a span back from now "
    "(`7d`, `12h`)."
)


@router.get(
    "/ops",
    summary="Operations report",
    description=(
        "Over `[since, until)`: per alert kind the count, mean time to detect (first affected record "
        "to the alert) and to resolve (alert to resolution or rollback), with the alerts whose start "
        "is unknown and those still open counted apart; availability per model group and deployment "
        "(succeeded / served, with and without fallbacks), fallback and retry rates; canary outcomes "
        "(promoted, rolled back, active, with the time and candidate requests to each decision); "
        "monitoring coverage (share of requests sampled by monitors and covered by scheduled evals). "
        "The same numbers as `llmgate report ops`. Seconds are numbers, shares run from 0 to 1, "
        "`null` means nothing was measured. `format=csv` answers `text/csv` in long form: "
        "`section,name,metric,value`."
    ),
    responses={
        200: {"description": "The report, as JSON or CSV (`format`)."},
        400: {"description": "A parameter is invalid (unreadable date, `until` before `since`)."},
    },
)
def ops_report(
    request: Request,
    since: Annotated[str, Query(description=_BOUND)],
    until: Annotated[str | None, Query(description="Exclusive end, as `since`. Default: now.")] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv.")] = "json",
) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.reports import ops as reports
    from llmgate.reports.ops_formats import to_csv

    state = app_state(request)
    tz = state.config.llmgate.time_zone
    start, end = parse_range(since, until, tz, since_required=True)
    assert start is not None  # required: parse_range refused an empty since
    report = reports.ops_report(state.engine, since=start, until=end, tz=tz)
    if format == "csv":
        return Response(
            content=to_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="ops.csv"'},
        )
    return Response(content=orjson.dumps(reports.to_json(report)), media_type="application/json")
