"""The monitors' statistics over a time range, bounded for charts (the dashboard's drift history).

The worker stores every statistic of every evaluation in ``monitor_stats`` (one evaluation of a
model and route writes all its statistics with the same ``at``), so a month of evaluations every
30 seconds is far more than a chart can show. ``stats_between`` keeps at most ``max_evaluations``
evaluation times per range: evenly spread over the range, plus every time at which a statistic
breached (so a downsampled chart never hides a breach), then reads the statistics of those times.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store.models import table

#: Columns read for a chart point (``details_json`` is decoded into ``details``).
_COLUMNS = (
    "at",
    "model",
    "route",
    "kind",
    "statistic",
    "value",
    "threshold",
    "p_value",
    "breached",
    "reference_n",
    "current_n",
    "details_json",
)
_CHUNK = 400


def stats_between(
    engine: Engine,
    *,
    since: datetime,
    until: datetime,
    model: str | None = None,
    route: str | None = None,
    kinds: Sequence[str] | None = None,
    max_evaluations: int = 400,
) -> tuple[list[dict[str, Any]], bool]:
    """Statistics with ``since <= at < until`` (oldest first) and whether evaluations were left out.

    ``kinds``: only these kinds (``prompt``, ``response``, ``output``, ``rag``)."""
    m = table("monitor_stats")
    where = [m.c.at >= since, m.c.at < until]
    if model is not None:
        where.append(m.c.model == model)
    if route is not None:
        where.append(m.c.route == route)
    if kinds is not None:
        where.append(m.c.kind.in_(list(kinds)))
    breached = sa.func.max(sa.case((m.c.breached, 1), else_=0))
    times_query = sa.select(m.c.at, breached).where(*where).group_by(m.c.at).order_by(m.c.at)
    with engine.connect() as conn:
        times = [(row[0], bool(row[1])) for row in conn.execute(times_query)]
        chosen = _spread(times, max_evaluations)
        columns = [m.c[name] for name in _COLUMNS]
        rows: list[dict[str, Any]] = []
        if len(chosen) == len(times):
            query = sa.select(*columns).where(*where).order_by(m.c.at, m.c.id)
            rows = [dict(row._mapping) for row in conn.execute(query)]
        else:
            for start in range(0, len(chosen), _CHUNK):
                part = chosen[start : start + _CHUNK]
                query = sa.select(*columns).where(*where, m.c.at.in_(part)).order_by(m.c.at, m.c.id)
                rows += [dict(row._mapping) for row in conn.execute(query)]
    for row in rows:
        row["details"] = json.loads(row.pop("details_json") or "{}")
    return rows, len(chosen) < len(times)


def _spread(times: list[tuple[datetime, bool]], limit: int) -> list[datetime]:
    """At most about ``2 * limit`` of the times: ``limit`` evenly spread, and the breached ones
    (all of them, or ``limit`` of them evenly spread)."""
    if len(times) <= limit:
        return [at for at, _ in times]
    picked = set(_even(list(range(len(times))), limit)) | {len(times) - 1}
    picked |= set(_even([i for i, (_, hit) in enumerate(times) if hit], limit))
    return [times[i][0] for i in sorted(picked)]


def _even(items: list[int], limit: int) -> list[int]:
    if len(items) <= limit:
        return items
    step = len(items) / max(1, limit)
    return [items[int(i * step)] for i in range(limit)]
