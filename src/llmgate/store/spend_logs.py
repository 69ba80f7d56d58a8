"""Recorded requests as spend rows: the query behind LiteLLM's ``/spend/logs``.

One row per request (successful or not), newest first, with what a spend log needs: ids, times,
key, team, user, model, tokens, cost, outcome, metadata and tags (decoded from JSON here), and
whether the response cache answered it. Never a
prompt or a response: those stay in ``store/records.py``'s reads. ``reports/litellm_spend.py``
shapes the rows as LiteLLM does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.db import describe_error
from llmgate.store.key_rows import json_value
from llmgate.store.models import requests_table

#: the most rows one read returns
MAX_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class SpendRow:
    id: str
    created_at: datetime
    latency_ms: float
    endpoint: str
    key_id: str | None
    team_id: str | None
    user: str | None
    model: str
    deployment: str | None
    provider: str | None
    upstream_model: str | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: Decimal
    status: str
    status_code: int
    metadata: dict[str, Any]
    tags: dict[str, Any]
    cache_hit: bool = False  # answered by the response cache
    cache_key: str | None = None  # the cache entry it came from


def spend_rows(
    engine: Engine,
    *,
    key_ids: list[str] | None = None,
    user: str | None = None,
    request_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = MAX_ROWS,
) -> list[SpendRow]:
    """The requests matching every filter given, newest first (at most ``limit``); ``key_ids``
    an empty list matches nothing."""
    r = requests_table()
    query = sa.select(
        r.c.id,
        r.c.created_at,
        r.c.latency_ms,
        r.c.endpoint,
        r.c.key_id,
        r.c.team_id,
        r.c.user,
        r.c.model,
        r.c.deployment,
        r.c.provider,
        r.c.upstream_model,
        r.c.prompt_tokens,
        r.c.completion_tokens,
        r.c.total_tokens,
        r.c.cost_usd,
        r.c.status,
        r.c.status_code,
        r.c.metadata_json,
        r.c.tags_json,
        r.c.cache_hit,
        r.c.cache_key,
    )
    if key_ids is not None:
        query = query.where(r.c.key_id.in_(key_ids))
    if user is not None:
        query = query.where(r.c.user == user)
    if request_id is not None:
        query = query.where(r.c.id == request_id)
    if since is not None:
        query = query.where(r.c.created_at >= since)
    if until is not None:
        query = query.where(r.c.created_at < until)
    query = query.order_by(r.c.created_at.desc(), r.c.id).limit(max(1, min(limit, MAX_ROWS)))
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    except SQLAlchemyError as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc
    out = []
    for row in rows:
        m = row._mapping
        prompt, completion = int(m["prompt_tokens"] or 0), int(m["completion_tokens"] or 0)
        out.append(
            SpendRow(
                id=m["id"],
                created_at=m["created_at"],
                latency_ms=float(m["latency_ms"] or 0.0),
                endpoint=m["endpoint"],
                key_id=m["key_id"],
                team_id=m["team_id"],
                user=m["user"],
                model=m["model"],
                deployment=m["deployment"],
                provider=m["provider"],
                upstream_model=m["upstream_model"],
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=int(m["total_tokens"] or prompt + completion),
                cost_usd=m["cost_usd"] if m["cost_usd"] is not None else Decimal(0),
                status=m["status"],
                status_code=int(m["status_code"]),
                metadata=_object(json_value(m["metadata_json"])),
                tags=_object(json_value(m["tags_json"])),
                cache_hit=bool(m["cache_hit"]),
                cache_key=m["cache_key"],
            )
        )
    return out


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
