"""Queries on the ``alerts`` table: alerts raised by scheduled evals, live monitors and canaries,
with, when known, the first record each affected and when it was resolved (migration 0012)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store.models import table


def insert_alert(
    engine: Engine,
    *,
    at: datetime,
    source: str,
    kind: str,
    severity: str,
    title: str,
    details: dict[str, Any],
    first_affected_at: datetime | None = None,
) -> int | None:
    """Store one alert; returns its id. ``first_affected_at``: the first record the condition
    affected, when known (the operations report's time to detect runs from it to ``at``)."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.insert(table("alerts")).values(
                at=at,
                source=source,
                kind=kind,
                severity=severity,
                title=title,
                details_json=json.dumps(details, default=str, sort_keys=True),
                first_affected_at=first_affected_at,
            )
        )
        key = result.inserted_primary_key
        return int(key[0]) if key and key[0] is not None else None


def resolve_alert(engine: Engine, alert_id: int, at: datetime) -> bool:
    """Mark an alert resolved at ``at`` (its condition cleared, its canary rolled back), once:
    an alert resolved already keeps its first time. Whether this call resolved it."""
    alerts = table("alerts")
    query = (
        sa.update(alerts)
        .where(alerts.c.id == alert_id, alerts.c.resolved_at.is_(None))
        .values(resolved_at=at)
    )
    with engine.begin() as conn:
        return conn.execute(query).rowcount == 1


def list_alerts(engine: Engine, *, since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest alerts first, with their details decoded."""
    alerts = table("alerts")
    query = sa.select(alerts).order_by(alerts.c.at.desc(), alerts.c.id.desc()).limit(limit)
    if since is not None:
        query = query.where(alerts.c.at >= since)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["details"] = json.loads(row.pop("details_json") or "{}")
    return rows
