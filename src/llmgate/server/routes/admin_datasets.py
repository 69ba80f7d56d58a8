"""Admin API for datasets: what ``llmgate dataset`` does, over HTTP.

- ``GET /admin/datasets``: every dataset with its item count and the query that made it.
- ``GET /admin/datasets/{name}``: one dataset with its items (``dataset show --format json``).
- ``POST /admin/datasets``: make one from the recorded calls, with ``dataset create --from-logs``'s
  parameters (``since``/``until`` as every ``since`` is read: ``config/time_range.py``); answers
  the dataset and the selection's counts (201). A taken name is 400 ``conflict`` unless
  ``replace``; a bad ``where`` is 400 with ``param: where``.
- ``POST /admin/datasets/{name}/items``: ``{"request_id": ID | [IDs]}`` or ``{"session_id": ID}``
  (``keep_pii`` optional): copy recorded calls in, idempotent per request; makes the dataset when
  it is missing (201 then, else 200). 404 when no such call is recorded.
- ``DELETE /admin/datasets/{name}/items/{item_id}``, ``DELETE /admin/datasets/{name}``.
- ``GET /admin/datasets/{name}/export[?model=M...]``: the eval suite YAML (``application/yaml``).

Master key (or an admin key) only; errors in OpenAI's shape (404 ``not_found`` for a missing
dataset or item). Every change is in the audit log as ``api:master`` or ``api:<key id>``.
Thin: ``datasets/curate.py`` and ``store/datasets.py`` do the work. Plain ``def`` routes: FastAPI
runs them in its thread pool (a selection with ``dedupe`` embeds prompts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmgate.config.time_range import parse_range
from llmgate.errors import LlmgateError
from llmgate.server.deps import Admin, app_state, require_admin, schema_ready
from llmgate.server.params import refuse_nul

if TYPE_CHECKING:
    from llmgate.auth.keys import Identity

_ERROR = {"description": "OpenAI's error shape: {error: {message, type, param, code}}"}
router = APIRouter(
    prefix="/admin/datasets",
    tags=["datasets"],
    responses={400: _ERROR, 401: _ERROR, 403: _ERROR, 404: _ERROR},
    dependencies=[Depends(refuse_nul), Depends(require_admin), Depends(schema_ready)],
)


class ItemNotFound(LlmgateError):
    """No item with that id in the dataset."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


class CreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str | None = None
    since: str | None = Field(None, description="As every `since`: `7d`, a date, an ISO datetime.")
    until: str | None = None
    model: str | None = None
    where: str | None = Field(None, description="e.g. `feedback.thumbs = down or groundedness < 0.5`")
    sample: int | None = Field(None, ge=1)
    dedupe: bool = False
    keep_pii: bool = False
    seed: int = 0
    replace: bool = False


class AddBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str | list[str] | None = None
    session_id: str | None = None
    keep_pii: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> AddBody:
        if (self.request_id is None or self.request_id == []) == (self.session_id is None):
            raise ValueError("give request_id (one id or a list) or session_id")
        return self


def _actor(identity: Identity) -> str:
    return f"api:{identity.key.id}" if identity.key is not None else f"api:{identity.name}"


def _json(data: Any, status: int = 200) -> Response:
    return Response(content=orjson.dumps(data), media_type="application/json", status_code=status)


@router.get("", summary="List datasets")
def list_datasets(request: Request) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.datasets.curate import datasets_json
    from llmgate.store.datasets import list_datasets as read

    return _json({"datasets": datasets_json(read(app_state(request).engine))})


@router.post("", summary="Make a dataset from the recorded calls", status_code=201)
def create_dataset(request: Request, body: CreateBody, identity: Admin) -> Response:
    # the datasets library (SQLAlchemy, the embedder for dedupe): off the gateway process
    from llmgate.datasets.curate import LogQuery, create_from_logs, datasets_json

    state = app_state(request)
    tz = state.config.llmgate.time_zone
    start, end = parse_range(body.since, body.until, tz)
    query = LogQuery(start, end, body.model, body.where, body.sample, body.dedupe, body.keep_pii, body.seed)
    made = create_from_logs(
        state.engine,
        body.name,
        query,
        actor=_actor(identity),
        zone=tz,
        description=body.description,
        replace=body.replace,
        rag=state.config.llmgate.monitors.rag,
    )
    s = made.selection
    counts = {
        "items": len(s.items),
        "considered": s.considered,
        "matched": s.matched,
        "sampled_out": s.sampled_out,
        "duplicates": s.duplicates,
        "scrubbed": s.scrubbed,
    }
    return _json({"dataset": datasets_json([made.dataset])[0], "selection": counts}, 201)


@router.get("/{name}", summary="One dataset with its items")
def get_dataset(request: Request, name: str) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.datasets.curate import dataset_json
    from llmgate.store.datasets import DatasetNotFound
    from llmgate.store.datasets import get_dataset as read

    found = read(app_state(request).engine, name)
    if found is None:
        raise DatasetNotFound(f"no dataset named {name[:128]!r}", param="name")
    return _json(dataset_json(found))


@router.post("/{name}/items", summary="Add recorded requests, or a session's calls")
def add_items(request: Request, name: str, body: AddBody, identity: Admin) -> Response:
    # the datasets library (SQLAlchemy): off the gateway process until this endpoint is called
    from llmgate.datasets.curate import add_requests, add_session, datasets_json

    state, actor = app_state(request), _actor(identity)
    engine, rag = state.engine, state.config.llmgate.monitors.rag
    if body.session_id is not None:
        outcome = add_session(engine, name, body.session_id, actor=actor, keep_pii=body.keep_pii, rag=rag)
    else:
        ids = [body.request_id] if isinstance(body.request_id, str) else list(body.request_id or [])
        outcome = add_requests(engine, name, ids, actor=actor, keep_pii=body.keep_pii, rag=rag)
    answer = {
        "dataset": datasets_json([outcome.dataset])[0],
        "added": outcome.added,
        "present": outcome.present,
        "created": outcome.created,
    }
    return _json(answer, 201 if outcome.created else 200)


@router.delete("/{name}/items/{item_id}", summary="Remove one item")
def remove_item(request: Request, name: str, item_id: int, identity: Admin) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.store.datasets import remove_items

    if not remove_items(app_state(request).engine, name, actor=_actor(identity), item_ids=[item_id]):
        raise ItemNotFound(f"dataset {name[:128]!r} has no item {item_id}", param="item_id")
    return _json({"name": name, "item_id": item_id, "deleted": True})


@router.delete("/{name}", summary="Delete a dataset and its items")
def delete_dataset(request: Request, name: str, identity: Admin) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.store.datasets import delete_dataset as delete

    items = delete(app_state(request).engine, name, actor=_actor(identity))
    return _json({"name": name, "items": items, "deleted": True})


@router.get("/{name}/export", summary="The dataset as an eval suite (YAML)")
def export_dataset(
    request: Request,
    name: str,
    model: Annotated[list[str] | None, Query(description="A model to run it on (repeat).")] = None,
) -> Response:
    # the datasets library (SQLAlchemy): off the gateway process until this endpoint is called
    from llmgate.datasets.curate import export

    exported = export(app_state(request).engine, name, models=model or ())
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.yaml"',
        "X-Llmgate-Cases": str(exported.cases),
        "X-Llmgate-Skipped": str(exported.skipped),
    }
    return Response(content=exported.text, media_type="application/yaml", headers=headers)
