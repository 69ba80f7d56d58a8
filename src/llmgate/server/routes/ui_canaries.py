"""The dashboard's Canaries data under ``/ui/api/canaries``: every canary release, and one canary's
steps, gates and decisions.

- ``GET /ui/api/canaries``: every canary, active ones first, then by start, newest first: id,
  model, candidate, status, percent, step index and steps, stickiness, times, and its last
  evaluation (each gate's verdict, effect, interval and tolerance; the decision)
  (``canary.timeline.canaries_overview``).
- ``GET /ui/api/canaries/{ref}``: the same for one canary (its id, or a model: its active canary,
  else its latest), plus its events newest first (the decision log, at most ``limit``) and its
  split over time (``canary.timeline.canary_detail``). An unknown canary is a 404.

Every route needs a dashboard login or an admin key. Plain ``def`` handlers: FastAPI runs them in
its thread pool, off the event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from llmgate.errors import LlmgateError
from llmgate.server.deps import app_state, schema_ready
from llmgate.server.params import refuse_nul
from llmgate.server.ui_auth import require_ui_admin
from llmgate.server.ui_common import json_response

router = APIRouter(
    prefix="/ui/api/canaries",
    include_in_schema=False,
    dependencies=[Depends(refuse_nul), Depends(require_ui_admin), Depends(schema_ready)],
)


class CanaryMissing(LlmgateError):
    """No stored canary has that id (nor is it a model with a canary)."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


# The store (through canary.timeline) is imported in the handlers: this module loads when the admin
# app is built (even for a /metrics scrape), SQLAlchemy only when a handler needs it.
@router.get("")
def canaries(request: Request) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.canary.timeline import canaries_overview

    return json_response(canaries_overview(app_state(request).engine))


@router.get("/{ref}")
def canary(
    request: Request,
    ref: Annotated[str, Path(min_length=1, max_length=200, description="A canary id, or a model.")],
    limit: Annotated[int, Query(ge=1, le=10000, description="At most this many events, newest first.")] = 500,
) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.canary.timeline import canary_detail

    data = canary_detail(app_state(request).engine, ref, now=datetime.now(UTC), limit=limit)
    if data is None:
        raise CanaryMissing(f"no canary {ref!r}: neither a canary's id nor a model with a canary")
    return json_response(data)
