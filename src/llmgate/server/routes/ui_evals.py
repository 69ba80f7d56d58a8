"""The dashboard's Evals data under ``/ui/api/evals/``: runs over time with regressions, flipped cases.

- ``GET /ui/api/evals/runs``: runs started in the range, per suite and model (pass rate, status,
  time), each finished run compared with its suite's baseline or its previous run (the same
  paired test as ``llmgate eval compare``); and the pass rate over time per suite and model
  (``evals.timeline.runs_timeline``).
- ``GET /ui/api/evals/compare?current=RUN[&baseline=RUN]``: the verdict and every flipped case
  side by side: its input, both outputs, both runs' assertion results (``compare_runs``). Without
  ``baseline``, the run is compared with what ``runs`` compares it with.

Ranges as the other dashboard data (``ui_common.time_range``). Every route needs a dashboard login or
an admin key. Plain ``def`` handlers: FastAPI runs them in its thread pool, off the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from llmgate.errors import LlmgateError
from llmgate.server.deps import app_state, schema_ready
from llmgate.server.params import refuse_nul
from llmgate.server.ui_auth import require_ui_admin
from llmgate.server.ui_common import Since, Until, json_response, time_range

router = APIRouter(
    prefix="/ui/api/evals",
    include_in_schema=False,
    dependencies=[Depends(refuse_nul), Depends(require_ui_admin), Depends(schema_ready)],
)

RunRef = Annotated[str, Query(min_length=1, max_length=200, description="A run id or unique id prefix.")]


# evals.timeline (and with it the store and numpy) is imported in the handlers: this module loads
# when the admin app is built (even for a /metrics scrape), SQLAlchemy and numpy only when needed.


class RunMissing(LlmgateError):
    """No stored eval run has that id."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


@router.get("/runs")
def runs(
    request: Request,
    since: Since = None,
    until: Until = None,
    suite: Annotated[str | None, Query(description="Only this suite.")] = None,
    model: Annotated[str | None, Query(description="Only this model.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.evals.timeline import runs_timeline

    state = app_state(request)
    start, end = time_range(state, since, until)
    data = runs_timeline(state.engine, since=start, until=end, suite=suite, model=model, limit=limit)
    return json_response(data)


@router.get("/compare")
def compare(
    request: Request, current: RunRef, baseline: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.evals.timeline import RunNotFound, compare_runs

    state = app_state(request)
    try:
        data = compare_runs(state.engine, current, baseline or None)
    except RunNotFound as exc:
        raise RunMissing(str(exc)) from None
    return json_response(data)
