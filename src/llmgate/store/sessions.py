"""Dashboard sessions in the store, so that ending one ends it on every replica at once.

A dashboard login (``server/ui_auth.py``) starts a session here and puts its random id in
the signed cookie; every dashboard request checks that the session is still here; logging out
deletes it, and so do revoking, rotating or demoting the admin key it belongs to
(``store/keys.py``, in the same transaction as the change). The table holds the SHA-256 of each
id, never the id itself, and expired rows are pruned whenever a session starts.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.db import describe_error
from llmgate.store.models import table


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(engine: Engine, subject: str, ttl_s: int, *, now: datetime | None = None) -> str:
    """A new session of ``subject`` for ``ttl_s`` seconds; returns its id (for the cookie only)."""
    sessions = table("ui_sessions")
    at = now or datetime.now(UTC)
    session_id = secrets.token_urlsafe(32)
    try:
        with engine.begin() as conn:
            conn.execute(sa.delete(sessions).where(sessions.c.expires_at <= at))
            conn.execute(
                sa.insert(sessions).values(
                    id=_digest(session_id),
                    subject=subject,
                    created_at=at,
                    expires_at=at + timedelta(seconds=ttl_s),
                )
            )
    except SQLAlchemyError as exc:
        raise StoreError(f"store write failed: {describe_error(exc)}") from exc
    return session_id


def session_live(engine: Engine, session_id: str, subject: str, *, now: datetime | None = None) -> bool:
    """Whether the session is still in the store, for this subject, and not expired."""
    sessions = table("ui_sessions")
    query = sa.select(sa.literal(1)).where(
        sessions.c.id == _digest(session_id),
        sessions.c.subject == subject,
        sessions.c.expires_at > (now or datetime.now(UTC)),
    )
    try:
        with engine.connect() as conn:
            return conn.execute(query).first() is not None
    except SQLAlchemyError as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc


def end_session(engine: Engine, session_id: str) -> None:
    """Log out: the session is gone, on every replica (a no-op if it was gone already)."""
    sessions = table("ui_sessions")
    try:
        with engine.begin() as conn:
            conn.execute(sa.delete(sessions).where(sessions.c.id == _digest(session_id)))
    except SQLAlchemyError as exc:
        raise StoreError(f"store write failed: {describe_error(exc)}") from exc


def end_sessions_of(conn: Connection, subject: str) -> None:
    """End every session of ``subject`` (a key id), inside the caller's transaction."""
    sessions = table("ui_sessions")
    conn.execute(sa.delete(sessions).where(sessions.c.subject == subject))
