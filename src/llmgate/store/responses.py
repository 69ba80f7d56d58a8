"""Reading and writing ``stored_responses`` (``store/response_tables.py``): the Responses API's
answers llmgate keeps so a later call can continue them and their owner can read them back.

Rows are written by the record writer, in the transaction of the requests rows they ride with
(``insert_kept``, called by ``records.insert_records``), or in batches by ``apis/responses_memory.py``
when no record carries them; a row already there (the same id written twice, by a retried or
replayed batch) is left as it is. Reads are by id; what the
caller may see is decided above (a row names its owner, the store does not filter).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.db import describe_error
from llmgate.store.models import table

__all__ = ["delete_response", "insert_kept", "load_response", "prune_responses", "save_responses"]


def insert_kept(conn: Connection, dialect: str, rows: list[dict[str, Any]]) -> None:
    """Insert kept responses in the caller's transaction, skipping ids already stored (a record
    batch replayed from a spill file carries them again, with ``created_at`` as ISO text)."""
    responses = table("stored_responses")
    values = [
        {**row, "created_at": datetime.fromisoformat(row["created_at"])}
        if isinstance(row.get("created_at"), str)
        else row
        for row in rows
    ]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    conn.execute(insert(responses).on_conflict_do_nothing(index_elements=["id"]), values)


def save_responses(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (one transaction; on a duplicate id, one at a time, skipping those there)."""
    responses = table("stored_responses")
    try:
        try:
            with engine.begin() as conn:
                conn.execute(sa.insert(responses), rows)
        except IntegrityError:
            for row in rows:
                try:
                    with engine.begin() as conn:
                        conn.execute(sa.insert(responses), [row])
                except IntegrityError:
                    continue
    except SQLAlchemyError as exc:
        raise StoreError(f"store write failed: {describe_error(exc)}") from exc


def load_response(engine: Engine, response_id: str) -> dict[str, Any] | None:
    """The row of ``response_id``, or None."""
    responses = table("stored_responses")
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.select(responses).where(responses.c.id == response_id)).mappings().first()
    except SQLAlchemyError as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc
    return dict(row) if row is not None else None


def delete_response(engine: Engine, response_id: str) -> bool:
    """Delete the row of ``response_id``; whether there was one."""
    responses = table("stored_responses")
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.delete(responses).where(responses.c.id == response_id))
    except SQLAlchemyError as exc:
        raise StoreError(f"store write failed: {describe_error(exc)}") from exc
    return bool(result.rowcount)


def prune_responses(engine: Engine, before: datetime) -> int:
    """Delete the rows created before ``before``; how many (for a retention job)."""
    responses = table("stored_responses")
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.delete(responses).where(responses.c.created_at < before))
    except SQLAlchemyError as exc:
        raise StoreError(f"store write failed: {describe_error(exc)}") from exc
    return int(result.rowcount or 0)
