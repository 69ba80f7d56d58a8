"""Admin API for the response cache: ``GET /admin/cache/stats`` and ``POST /admin/cache/clear``,
what ``llmgate cache stats`` and ``llmgate cache clear`` call.

The master key or an admin key. An in-process cache lives in the gateway, so only the gateway
can say what it holds or clear it; the handlers are async because the cache's calls run on the
gateway's event loop. Stats are the backend's (entries, bytes) and this process's counts of hits,
misses, bypasses and errors by model group, and the semantic index's state (``semantic_index``:
ready, entries, busy, dropped, errors, rebuilt) when it runs; clearing takes a model group and/or
a team (neither: everything in the config's namespace), and their semantic vectors go with them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from llmgate.errors import InvalidRequest
from llmgate.server.deps import app_state, require_admin
from llmgate.server.params import refuse_nul

router = APIRouter(
    prefix="/admin/cache",
    tags=["cache"],
    dependencies=[Depends(refuse_nul), Depends(require_admin)],
)

#: the answer when the config turns the cache on nowhere
CACHE_OFF = "the response cache is off: turn it on with litellm_settings.cache: true or llmgate.cache.models"


class ClearRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, min_length=1, description="A model group (model_name).")
    team: str | None = Field(default=None, min_length=1, description="A team id: its scope's entries.")


@router.get("/stats", summary="What the response cache holds, and its hits and misses by model")
async def cache_stats(request: Request) -> dict[str, Any]:
    cache = app_state(request).cache
    if cache is None:
        return {"enabled": False, "detail": CACHE_OFF}
    return {"enabled": True, **await cache.stats()}


@router.post("/clear", summary="Forget cached answers of a model group and/or a team")
async def cache_clear(request: Request, body: ClearRequest | None = None) -> dict[str, Any]:
    cache = app_state(request).cache
    if cache is None:
        raise InvalidRequest(CACHE_OFF, code="cache_off")
    wanted = body or ClearRequest()
    cleared = await cache.clear(wanted.model, wanted.team)
    return {"cleared": cleared, "model": wanted.model, "team": wanted.team}
