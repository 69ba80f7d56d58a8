"""The dashboard's "Add to dataset": ``GET /ui/api/datasets`` and ``POST /ui/api/datasets/{name}/items``.

The request and session pages offer the datasets there are (names and item counts, for the
input's suggestions) and add the request, or every call of the session, to the dataset typed
(made when it does not exist), as ``llmgate dataset add`` and ``POST /admin/datasets/{name}/items``
do (``datasets/curate.py``): idempotent per request, prompts scrubbed of PII. The answer says what
happened (``added``, ``present``: already in it, ``created``, the dataset's ``items``).

Needs a dashboard login (or an admin key). The write takes a JSON body only (a form from another
site cannot send one without the browser asking first) and is refused with 403 when a browser
sent it from another site (``ui_common.cross_site``); the login cookie is ``SameSite=Strict``
besides. Audited as ``ui:<subject>`` (``master`` or the admin key's id). Plain ``def`` handlers:
FastAPI runs them in its thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, model_validator

from llmgate.errors import InvalidRequest, PermissionDenied
from llmgate.server.deps import app_state, schema_ready
from llmgate.server.params import refuse_nul
from llmgate.server.ui_auth import UiAdmin, require_ui_admin
from llmgate.server.ui_common import cross_site, json_response

router = APIRouter(
    prefix="/ui/api/datasets",
    include_in_schema=False,
    dependencies=[Depends(refuse_nul), Depends(require_ui_admin), Depends(schema_ready)],
)


class AddBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str | None = None
    session_id: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AddBody:
        if (self.request_id is None) == (self.session_id is None):
            raise ValueError("give request_id or session_id")
        return self


def _same_site_json(request: Request) -> None:
    """A write from this dashboard: JSON, and not sent from another site."""
    if cross_site(request):
        raise PermissionDenied("Add to a dataset from the dashboard's own pages.")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise InvalidRequest("The body must be JSON (Content-Type: application/json).", param="body")


@router.get("")
def datasets(request: Request) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.store.datasets import list_datasets

    rows = list_datasets(app_state(request).engine)
    return json_response({"datasets": [{"name": row.name, "items": row.items} for row in rows]})


@router.post("/{name}/items", dependencies=[Depends(_same_site_json)])
def add(
    request: Request, name: str, body: AddBody, admin: Annotated[UiAdmin, Depends(require_ui_admin)]
) -> Response:
    # the datasets library (SQLAlchemy): off the gateway process until this endpoint is called
    from llmgate.datasets.curate import add_requests, add_session

    state, actor = app_state(request), f"ui:{admin.subject}"
    engine, rag = state.engine, state.config.llmgate.monitors.rag
    if body.session_id is not None:
        outcome = add_session(engine, name, body.session_id, actor=actor, rag=rag)
    else:
        assert body.request_id is not None
        outcome = add_requests(engine, name, [body.request_id], actor=actor, rag=rag)
    answer = {
        "name": outcome.dataset.name,
        "items": outcome.dataset.items,
        "added": outcome.added,
        "present": outcome.present,
        "created": outcome.created,
    }
    response = json_response(answer)
    response.status_code = 201 if outcome.created else 200
    return response
