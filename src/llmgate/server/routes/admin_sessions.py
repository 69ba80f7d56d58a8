"""Admin API for sessions: ``GET /admin/sessions`` and ``GET /admin/sessions/{id}``, as the CLI shows them.

A session is the run of calls a client grouped with ``x-llmgate-session-id`` (or
``metadata.session_id``, or LiteLLM's ``litellm_session_id``; ``protocol/session_headers.py``).
The list is ``llmgate sessions list`` (JSON or CSV): one entry per session with calls in
``[since, until)``, the most recently active first. One session is ``llmgate logs --session ID
--format json``: its totals, and its calls depth-first (a call under the call it names as its
parent) with their depth, step, start offset and latency; 404 in OpenAI's error shape when no call
carries that session id. Master key (or an admin key) only. Thin handlers: ``store/call_sessions.py``
reads, ``reports/sessions.py`` shapes. Plain ``def`` routes: FastAPI runs them in its thread pool.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from llmgate.config.time_range import parse_range
from llmgate.errors import LlmgateError
from llmgate.server.deps import app_state, require_admin, schema_ready
from llmgate.server.params import refuse_nul

_ERROR = {"description": "OpenAI's error shape: {error: {message, type, param, code}}"}
router = APIRouter(
    prefix="/admin/sessions",
    tags=["sessions"],
    responses={400: _ERROR, 401: _ERROR, 403: _ERROR},
    dependencies=[Depends(refuse_nul), Depends(require_admin), Depends(schema_ready)],
)

_BOUND = (
    "A local date in `llmgate.time_zone` (`2026-11-01`: midnight there), an ISO datetime "
    "(`2026-11-01T09:00`, in `llmgate.time_zone` unless it has an offset) or a span back from now "
    "(`7d`, `12h`). Default: no bound."
)


class SessionNotFound(LlmgateError):
    """No recorded call carries that session id."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


@router.get(
    "",
    summary="List sessions",
    description=(
        "One entry per session with calls in `[since, until)`, the most recently active first: "
        "`session_id`, `first_at`, `last_at`, `calls`, `errors`, `users`, `models`, `prompt_tokens`, "
        "`completion_tokens`, `total_tokens`, `cost_usd` (exact decimal text; `null` when no call was "
        "priced), `cost_unknown` (calls without a price), `latency_ms` (summed). `user` and `model` "
        "keep the sessions with such a call. `format=csv` answers `text/csv`, one row per session."
    ),
)
def list_sessions(
    request: Request,
    since: Annotated[str | None, Query(description=_BOUND)] = None,
    until: Annotated[str | None, Query(description="Exclusive end, as `since`.")] = None,
    user: Annotated[str | None, Query(description="Only sessions with a call by this end user.")] = None,
    model: Annotated[str | None, Query(description="Only sessions with a call to this model alias.")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many sessions.")] = 50,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv.")] = "json",
) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.reports.sessions import sessions_csv, sessions_json
    from llmgate.store import call_sessions

    state = app_state(request)
    start, end = parse_range(since, until, state.config.llmgate.time_zone)
    found = call_sessions.list_sessions(
        state.engine, call_sessions.SessionFilter(start, end, user, model), limit=limit
    )
    if format == "csv":
        return Response(
            content=sessions_csv(found),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="sessions.csv"'},
        )
    return Response(content=orjson.dumps({"sessions": sessions_json(found)}), media_type="application/json")


@router.get(
    "/{session_id:path}",
    summary="One session",
    description=(
        "The session's `totals` (`calls`, `errors`, tokens, `cost_usd`, `cost_unknown`, `latency_ms` "
        "summed over the calls, `wall_ms` from the first call's start to the last one's end, "
        "`first_at`, `last_at`, `users`, `models`, `steps`) and its `calls` depth-first: each with "
        "`depth` (0 at the root), `parent_id`, `parent_known` (the parent is a call of this session), "
        "`children`, `step`, `offset_ms` from the session's start, `latency_ms`, tokens and cost. "
        "404 when no call carries this session id."
    ),
    responses={404: _ERROR},
)
def one_session(request: Request, session_id: str) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.reports.sessions import session_json
    from llmgate.store.call_sessions import session_calls

    calls = session_calls(app_state(request).engine, session_id)
    if not calls:
        raise SessionNotFound(f"no recorded calls in session {session_id[:128]!r}", param="session_id")
    return Response(content=orjson.dumps(session_json(session_id, calls)), media_type="application/json")
