"""Reading recorded calls to make datasets of: a window in batches, and chosen calls by id.

``datasets/select.py`` filters a window of traffic (``--since``, ``--until``, ``--model``) call
by call, so it reads the window in batches, oldest first, by the key ``(created_at, id)``: each
batch is one short read of its own (no transaction held open across a long selection), and a
batch holds only the columns asked for, so a filter on the model never reads request bodies.
The chosen calls' bodies are then read by id.

- ``window_batches``: the calls of ``[since, until)`` (of ``model``, on ``endpoints``), in
  batches of ``batch_size`` rows, with ``columns`` (always ``id``, ``created_at``, ``model`` and
  ``endpoint``); ``key_alias`` (the alias of the call's key, from ``api_keys``) may be asked for.
  Every status is read: errors are selected with ``status = error``, not dropped here.
- ``rows_by_id``: the given calls with every column and ``key_alias``, oldest first; an unknown id
  is left out (the caller says which).

Read-only Core SQL on both stores; a store failure is ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.db import describe_error
from llmgate.store.models import requests_table, table

__all__ = ["BASE_COLUMNS", "KEY_ALIAS", "rows_by_id", "window_batches"]

#: the columns every batch row has
BASE_COLUMNS = ("id", "created_at", "model", "endpoint")
#: the alias of the call's key (``api_keys.alias``), not a column of ``requests``
KEY_ALIAS = "key_alias"
_ID_CHUNK = 500


def _select(columns: Collection[str]) -> sa.Select[Any]:
    requests = requests_table()
    wanted = [requests.c[name] for name in dict.fromkeys([*BASE_COLUMNS, *columns]) if name != KEY_ALIAS]
    if KEY_ALIAS not in columns:
        return sa.select(*wanted)
    keys = table("api_keys")
    return sa.select(*wanted, keys.c.alias.label(KEY_ALIAS)).select_from(
        requests.outerjoin(keys, keys.c.id == requests.c.key_id)
    )


def window_batches(
    engine: Engine,
    *,
    since: datetime | None,
    until: datetime | None,
    model: str | None = None,
    endpoints: Sequence[str] | None = None,
    columns: Collection[str] = (),
    batch_size: int = 500,
) -> Iterator[list[dict[str, Any]]]:
    """The window's calls, oldest first, ``batch_size`` rows at a time (see the module doc)."""
    requests = requests_table()
    base = _select(columns)
    if since is not None:
        base = base.where(requests.c.created_at >= since)
    if until is not None:
        base = base.where(requests.c.created_at < until)
    if model:
        base = base.where(requests.c.model == model)
    if endpoints is not None:
        base = base.where(requests.c.endpoint.in_(list(endpoints)))
    base = base.order_by(requests.c.created_at, requests.c.id).limit(batch_size)
    after: tuple[datetime, str] | None = None
    while True:
        query = base
        if after is not None:
            at, last = after
            query = query.where(
                sa.or_(requests.c.created_at > at, sa.and_(requests.c.created_at == at, requests.c.id > last))
            )
        batch = _read(engine, query)
        if batch:
            yield batch
        if len(batch) < batch_size:
            return
        after = (batch[-1]["created_at"], batch[-1]["id"])


def rows_by_id(engine: Engine, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every column (and ``key_alias``) of the calls ``ids``, oldest first; unknown ids left out."""
    requests = requests_table()
    every = [column.name for column in requests.columns] + [KEY_ALIAS]
    wanted = list(dict.fromkeys(ids))
    rows: list[dict[str, Any]] = []
    for start in range(0, len(wanted), _ID_CHUNK):
        query = _select(every).where(requests.c.id.in_(wanted[start : start + _ID_CHUNK]))
        rows.extend(_read(engine, query))
    rows.sort(key=lambda row: (row["created_at"], row["id"]))
    return rows


def _read(engine: Engine, query: sa.Select[Any]) -> list[dict[str, Any]]:
    try:
        with engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc
