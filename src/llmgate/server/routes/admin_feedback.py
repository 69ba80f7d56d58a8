"""Admin API for scores: ``POST /admin/feedback`` and ``GET /admin/requests/{id}/scores``.

``POST /admin/feedback`` takes the body ``POST /v1/feedback`` takes (``server/feedback.py``) and
may score any request or session: the master key's scores have source ``master``, an admin key's
``key:<id>``. ``GET /admin/requests/{id}/scores`` lists every score the request got, from whom:
feedback on the request and on its session, and the monitor's groundedness and relevance
(``store/scores.py``'s ``request_scores``); 404 when no such request is recorded. Master key (or
an admin key) only; errors in OpenAI's shape.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from llmgate.server.deps import Admin, app_state, require_admin, schema_ready
from llmgate.server.feedback import NotRecorded, give_feedback
from llmgate.server.params import refuse_nul

_ERROR = {"description": "OpenAI's error shape: {error: {message, type, param, code}}"}
router = APIRouter(
    prefix="/admin",
    tags=["feedback"],
    responses={400: _ERROR, 401: _ERROR, 403: _ERROR, 404: _ERROR},
    dependencies=[Depends(refuse_nul), Depends(require_admin), Depends(schema_ready)],
)


@router.post(
    "/feedback",
    summary="Score a request or a session",
    description=(
        "Body `{request_id | session_id, name, value, comment}`: `value` a number, a bool or a label "
        "(at most 128 characters); `name` at most 64 characters, `comment` at most 2,000. One score per "
        "(request or session, name, source): a repeat updates it. Answers the stored score."
    ),
)
async def post_feedback(request: Request, identity: Admin) -> Response:
    answer = await give_feedback(app_state(request).engine, identity, await request.body())
    return Response(content=answer, media_type="application/json")


@router.get(
    "/requests/{record_id}/scores",
    summary="Every score of a request",
    description=(
        "`scores`: each with `name`, `kind` (number, bool, label), `value`, `comment`, `source` "
        "(`key:<id>`, `master`, `monitor`, `eval:<run id>`), `target_kind` (`request`, or `session` "
        "for a score of the request's session), `created_at`, `updated_at`."
    ),
)
def request_scores(request: Request, record_id: str) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.store.scores import request_owner
    from llmgate.store.scores import request_scores as read_scores

    engine = app_state(request).engine
    recorded, _ = request_owner(engine, record_id)
    if not recorded:
        raise NotRecorded(f"No recorded request has id {record_id[:64]!r}.", param="record_id")
    scores: list[dict[str, Any]] = read_scores(engine, record_id)
    return Response(
        content=orjson.dumps({"request_id": record_id, "scores": scores}), media_type="application/json"
    )
