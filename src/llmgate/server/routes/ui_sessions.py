"""The dashboard's Sessions data: ``GET /ui/api/sessions`` (the list) and ``/ui/api/sessions/{id}`` (one).

The same shapes as ``GET /admin/sessions`` and ``llmgate sessions list`` / ``logs --session``
(``store/call_sessions.py`` reads, ``reports/sessions.py`` shapes): the sessions with calls in the
page's range (``ui_common.time_range``: 24 hours unless the page says otherwise), optionally only
those with a call by ``user`` or to ``model``; and one session's totals and calls depth-first, with
each call's start offset and latency for the page's waterfall. Needs a dashboard login or an admin
key. Session ids, steps and models are client text: the page shows them with ``textContent`` only.
Plain ``def`` handlers: FastAPI runs them in its thread pool.
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
    prefix="/ui/api/sessions",
    include_in_schema=False,
    dependencies=[Depends(refuse_nul), Depends(require_ui_admin), Depends(schema_ready)],
)

#: most sessions the page lists
PAGE = 200


class SessionNotFound(LlmgateError):
    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


@router.get("")
def sessions(
    request: Request,
    since: Since = None,
    until: Until = None,
    user: Annotated[str | None, Query()] = None,
    model: Annotated[str | None, Query()] = None,
) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.reports.sessions import sessions_json
    from llmgate.store.call_sessions import SessionFilter, list_sessions

    state = app_state(request)
    start, end = time_range(state, since, until)
    found = list_sessions(state.engine, SessionFilter(start, end, user or None, model or None), limit=PAGE)
    return json_response({"sessions": sessions_json(found), "limit": PAGE})


@router.get("/{session_id:path}")
def session(request: Request, session_id: str) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.reports.sessions import session_json
    from llmgate.store.call_sessions import session_calls

    calls = session_calls(app_state(request).engine, session_id)
    if not calls:
        raise SessionNotFound(f"No recorded calls in session {session_id[:128]!r}.", param="session_id")
    return json_response(session_json(session_id, calls))
