"""Reading calls by session: the sessions in a range, and one session's calls in time order.

A *session* here is an agent's or a conversation's run of calls, grouped by the client
(``requests.session_id``, ``parent_id`` and ``step``: ``protocol/session_headers.py``, migration
0013). Not to be confused with ``store/sessions.py``, the dashboard's *login* sessions.

- ``session_calls``: one session's calls, oldest first (ties by id), the columns a session view
  shows (no bodies), at most ``MAX_CALLS``; read through the partial index ``ix_requests_session``.
- ``list_sessions``: one line per session with calls in ``[since, until)``, the most recently
  active first: its first and last call, the calls, their errors, tokens and cost (exact
  ``Decimal``, summed in SQL), and the distinct users and models. ``user`` and ``model`` keep the
  sessions with at least one such call in the range; the figures still count every call of the
  session in the range.

Read-only Core SQL on both stores; a store that is down is a ``StoreError``, a store the writer
has not migrated yet holds no sessions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.db import describe_error, lacks_table
from llmgate.store.models import requests_table

__all__ = ["CALL_COLUMNS", "MAX_CALLS", "MAX_SESSIONS", "SessionFilter", "list_sessions", "session_calls"]

#: most calls one session view reads
MAX_CALLS = 10_000
#: most sessions one list reads
MAX_SESSIONS = 10_000
#: the columns of a call a session view shows (the bodies stay in the store)
CALL_COLUMNS = (
    "id",
    "created_at",
    "endpoint",
    "model",
    "deployment",
    "user",
    "key_id",
    "status",
    "status_code",
    "error_type",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "tokens_estimated",
    "cost_usd",
    "cost_unknown",
    "cache",
    "latency_ms",
    "ttft_ms",
    "session_id",
    "parent_id",
    "step",
)


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Which sessions a list keeps: calls in ``[since, until)``; with ``user`` / ``model``, only
    sessions with such a call there."""

    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None
    model: str | None = None


def session_calls(engine: Engine, session_id: str, *, limit: int = MAX_CALLS) -> list[dict[str, Any]]:
    """The calls of session ``session_id``, oldest first (empty when it has none)."""
    requests = requests_table()
    query = (
        sa.select(*(requests.c[name] for name in CALL_COLUMNS))
        .where(requests.c.session_id == session_id)
        .order_by(requests.c.created_at, requests.c.id)
        .limit(max(0, min(limit, MAX_CALLS)))
    )
    return _read(engine, lambda conn: [dict(row) for row in conn.execute(query).mappings()])


def list_sessions(
    engine: Engine, where: SessionFilter | None = None, *, limit: int = 50
) -> list[dict[str, Any]]:
    """One dict per session (see the module docstring), the most recently active first."""
    where = where or SessionFilter()
    requests = requests_table()
    in_range = _in_range(where)
    if where.user is not None or where.model is not None:
        matching = sa.select(requests.c.session_id).where(*in_range)
        if where.user is not None:
            matching = matching.where(requests.c.user == where.user)
        if where.model is not None:
            matching = matching.where(requests.c.model == where.model)
        in_range = [*in_range, requests.c.session_id.in_(matching)]
    last = sa.func.max(requests.c.created_at)
    query = (
        sa.select(
            requests.c.session_id,
            sa.func.min(requests.c.created_at).label("first_at"),
            last.label("last_at"),
            sa.func.count().label("calls"),
            sa.func.sum(sa.case((requests.c.status == "error", 1), else_=0)).label("errors"),
            sa.func.sum(requests.c.prompt_tokens).label("prompt_tokens"),
            sa.func.sum(requests.c.completion_tokens).label("completion_tokens"),
            sa.func.sum(requests.c.total_tokens).label("total_tokens"),
            sa.func.sum(requests.c.cost_usd).label("cost_usd"),  # Money: exact on both stores
            sa.func.sum(sa.case((requests.c.cost_unknown, 1), else_=0)).label("cost_unknown"),
            sa.func.sum(requests.c.latency_ms).label("latency_ms"),
        )
        .where(*in_range)
        .group_by(requests.c.session_id)
        .order_by(last.desc(), requests.c.session_id)
        .limit(max(0, min(limit, MAX_SESSIONS)))
    )

    def read(conn: sa.Connection) -> list[dict[str, Any]]:
        sessions = [dict(row) for row in conn.execute(query).mappings()]
        if not sessions:
            return []
        ids = [s["session_id"] for s in sessions]
        names: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"users": set(), "models": set()})
        pairs = sa.select(requests.c.session_id, requests.c.user, requests.c.model).distinct()
        for sid, user, model in conn.execute(pairs.where(*_in_range(where), requests.c.session_id.in_(ids))):
            if user is not None:
                names[sid]["users"].add(user)
            names[sid]["models"].add(model)
        for session in sessions:
            session["users"] = sorted(names[session["session_id"]]["users"])
            session["models"] = sorted(names[session["session_id"]]["models"])
            for key in ("errors", "prompt_tokens", "completion_tokens", "total_tokens", "cost_unknown"):
                session[key] = int(session[key]) if session[key] is not None else None
            session["latency_ms"] = float(session["latency_ms"] or 0.0)
        return sessions

    return _read(engine, read)


def _in_range(where: SessionFilter) -> list[sa.ColumnElement[bool]]:
    requests = requests_table()
    out: list[sa.ColumnElement[bool]] = [requests.c.session_id.is_not(None)]
    if where.since is not None:
        out.append(requests.c.created_at >= where.since)
    if where.until is not None:
        out.append(requests.c.created_at < where.until)
    return out


def _read(engine: Engine, read: Any) -> list[dict[str, Any]]:
    try:
        with engine.connect() as conn:
            return read(conn)  # type: ignore[no-any-return]
    except (SQLAlchemyError, OSError) as exc:
        if lacks_table(engine, requests_table().name):  # not migrated yet: no sessions
            return []
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc
