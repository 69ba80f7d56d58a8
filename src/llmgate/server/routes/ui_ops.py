"""The dashboard's Operations data: ``GET /ui/api/ops``, the operations report over the page's range.

The same report as ``llmgate report ops --format json`` and ``GET /admin/report/ops``
(``reports/ops.py``): alerts' mean time to detect and to resolve, availability per model group and
deployment, fallback and retry rates, canary outcomes, monitoring coverage. Ranges as the other
dashboard data (``ui_common.time_range``: 24 hours unless the page says otherwise). Needs a
dashboard login or an admin key. A plain ``def`` handler: FastAPI runs it in its thread pool.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from llmgate.server.deps import app_state, schema_ready
from llmgate.server.params import refuse_nul
from llmgate.server.ui_auth import require_ui_admin
from llmgate.server.ui_common import Since, Until, json_response, time_range

router = APIRouter(
    prefix="/ui/api/ops",
    include_in_schema=False,
    dependencies=[Depends(refuse_nul), Depends(require_ui_admin), Depends(schema_ready)],
)


@router.get("")
def ops(request: Request, since: Since = None, until: Until = None) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.reports.ops import ops_report, to_json

    state = app_state(request)
    start, end = time_range(state, since, until)
    tz = state.config.llmgate.time_zone
    return json_response(to_json(ops_report(state.engine, since=start, until=end, tz=tz)))
