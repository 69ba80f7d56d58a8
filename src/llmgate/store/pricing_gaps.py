"""Requests recorded without a known price (``cost_unknown``), for ``llmgate report pricing-gaps``.

Split out of ``store/spend.py``, whose sums count such requests at a cost of 0: this says which
models, deployments and providers they were, how many, and since when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.db import describe_error
from llmgate.store.models import requests_table


@dataclass(frozen=True, slots=True)
class PricingGap:
    """Requests recorded without a price (``cost_unknown``) for one model / deployment / provider."""

    model: str
    deployment: str | None
    provider: str | None
    requests: int
    first_seen: datetime
    last_seen: datetime


def pricing_gaps(
    engine: Engine, since: datetime | None = None, until: datetime | None = None
) -> list[PricingGap]:
    """Requests flagged ``cost_unknown`` per model, deployment and provider, most frequent first."""
    requests = requests_table()
    key = (requests.c.model, requests.c.deployment, requests.c.provider)
    query = (
        sa.select(
            *key,
            sa.func.count(),
            sa.func.min(requests.c.created_at),
            sa.func.max(requests.c.created_at),
        )
        .where(requests.c.cost_unknown == sa.true())
        .group_by(*key)
    )
    if since is not None:
        query = query.where(requests.c.created_at >= since)
    if until is not None:
        query = query.where(requests.c.created_at < until)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc
    gaps = [PricingGap(row[0], row[1], row[2], int(row[3]), row[4], row[5]) for row in rows]
    return sorted(gaps, key=lambda g: (-g.requests, g.model, g.deployment or "", g.provider or ""))
