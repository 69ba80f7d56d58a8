"""Datasets in the store: create, list, read, add and remove items, delete; every change audited.

A dataset is a name (``dataset_rows.check_name``) with its cases (``dataset_tables.py``). An item
is handed over as a mapping of ``ITEM_FIELDS`` (``request_id``, ``session_id``, ``model``,
``created_at``, ``messages``, ``context``, ``answer``, ``rating``, ``scores``) and read back as an
``ItemRow`` (``dataset_rows.py``). The datasets package turns its ``DatasetItem`` into these
mappings and back, so the store knows nothing above it.

- ``create_dataset``: a new dataset with its items; an existing name is refused (``InvalidRequest``,
  code ``conflict``, param ``name``) unless ``replace``, which empties the dataset and fills it
  again, keeping its id and creation time.
- ``add_items``: idempotent per (dataset, request): a request already in the dataset (or twice in
  the batch) is skipped; ``create`` makes the dataset when it does not exist.
- ``remove_items`` (by item id or request id) and ``delete_dataset`` (with its items).
- ``list_datasets`` (with item counts), ``find_dataset`` (one, without its items) and
  ``get_dataset`` (with its items, oldest added first).

Each write and its ``audit_log`` entry (``dataset.create``, ``dataset.replace``, ``dataset.add``,
``dataset.remove``, ``dataset.delete``; the target is the dataset's name) run in one transaction
(``store/audit.py``). A missing dataset is ``DatasetNotFound`` (404, ``not_found``); a store
failure ``StoreError``. Synchronous Core SQL on both stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.audit import transaction, write_audit
from llmgate.store.dataset_rows import (
    ITEM_FIELDS,
    AddOutcome,
    Dataset,
    DatasetNotFound,
    DatasetRow,
    ItemRow,
    check_description,
    check_name,
    dataset_row,
    item_row,
    item_values,
    name_taken,
)
from llmgate.store.dataset_tables import MAX_ACTOR, MAX_NAME
from llmgate.store.db import describe_error
from llmgate.store.models import table

__all__ = [
    "ITEM_FIELDS",
    "AddOutcome",
    "Dataset",
    "DatasetNotFound",
    "DatasetRow",
    "ItemRow",
    "add_items",
    "check_name",
    "create_dataset",
    "delete_dataset",
    "find_dataset",
    "get_dataset",
    "list_datasets",
    "name_taken",
    "remove_items",
]

# --- writes: each with its audit entry, in one transaction --------------------------------------


def create_dataset(
    engine: Engine,
    name: str,
    items: Sequence[Mapping[str, Any]],
    *,
    actor: str,
    description: str | None = None,
    query: Mapping[str, Any] | None = None,
    replace: bool = False,
) -> DatasetRow:
    """A new dataset ``name`` holding ``items`` (see the module doc for ``replace``)."""
    check_name(name)
    description = check_description(description)
    now = datetime.now(UTC)
    query_json = orjson.dumps(dict(query)).decode() if query is not None else None
    with transaction(engine) as conn:
        old = _find(conn, name)
        if old is not None and not replace:
            raise name_taken(name)
        values = {"description": description, "query_json": query_json, "updated_at": now}
        if old is None:
            dataset_id = _insert_dataset(conn, name, now, values)
        else:
            dataset_id = old.id
            conn.execute(sa.delete(_items()).where(_items().c.dataset_id == dataset_id))
            conn.execute(sa.update(_datasets()).where(_datasets().c.id == dataset_id).values(**values))
        added = _insert_items(conn, dataset_id, _unique(items), actor, now)
        changes: dict[str, Any] = {"items": [old.items if old else None, added]}
        if query is not None:
            changes["query"] = [old.query if old else None, dict(query)]
        write_audit(conn, now, actor, "dataset.replace" if old else "dataset.create", name, changes)
        row = _find(conn, name)
    assert row is not None
    return row


def add_items(
    engine: Engine,
    name: str,
    items: Sequence[Mapping[str, Any]],
    *,
    actor: str,
    create: bool = False,
    description: str | None = None,
) -> AddOutcome:
    """Add ``items`` to ``name``, skipping requests it holds already; ``create``: make it if missing."""
    check_name(name)
    now = datetime.now(UTC)
    with transaction(engine) as conn:
        old = _find(conn, name)
        if old is None and not create:
            raise _not_found(name)
        if old is None:
            values = {"description": check_description(description), "query_json": None, "updated_at": now}
            dataset_id = _insert_dataset(conn, name, now, values)
        else:
            dataset_id = old.id
        fresh = _unique(items)
        held = _held_requests(conn, dataset_id, [i["request_id"] for i in fresh if i.get("request_id")])
        fresh = [i for i in fresh if i.get("request_id") not in held or not i.get("request_id")]
        added = _insert_items(conn, dataset_id, fresh, actor, now)
        if added:
            conn.execute(sa.update(_datasets()).where(_datasets().c.id == dataset_id).values(updated_at=now))
        before = old.items if old else 0
        action = "dataset.add" if old else "dataset.create"
        write_audit(conn, now, actor, action, name, {"items": [before if old else None, before + added]})
        row = _find(conn, name)
    assert row is not None
    return AddOutcome(row, added, len(items) - added, old is None)


def remove_items(
    engine: Engine,
    name: str,
    *,
    actor: str,
    item_ids: Iterable[int] = (),
    request_ids: Iterable[str] = (),
) -> int:
    """Remove the items with these ids or copied from these requests; how many went."""
    ids, requests = sorted(set(item_ids)), sorted(set(request_ids))
    now = datetime.now(UTC)
    items = _items()
    with transaction(engine) as conn:
        old = _find(conn, name)
        if old is None:
            raise _not_found(name)
        which = []
        if ids:
            which.append(items.c.id.in_(ids))
        if requests:
            which.append(items.c.request_id.in_(requests))
        if not which:
            return 0
        gone = conn.execute(sa.delete(items).where(items.c.dataset_id == old.id, sa.or_(*which))).rowcount
        if gone:
            conn.execute(sa.update(_datasets()).where(_datasets().c.id == old.id).values(updated_at=now))
            changes = {"items": [old.items, old.items - gone], "removed": {"ids": ids, "requests": requests}}
            write_audit(conn, now, actor, "dataset.remove", name, changes)
    return int(gone)


def delete_dataset(engine: Engine, name: str, *, actor: str) -> int:
    """Delete ``name`` and its items; how many items it held."""
    now = datetime.now(UTC)
    with transaction(engine) as conn:
        old = _find(conn, name)
        if old is None:
            raise _not_found(name)
        conn.execute(sa.delete(_items()).where(_items().c.dataset_id == old.id))
        conn.execute(sa.delete(_datasets()).where(_datasets().c.id == old.id))
        write_audit(conn, now, actor, "dataset.delete", name, {"items": [old.items, None]})
    return old.items


# --- reads ---------------------------------------------------------------------------------------


def list_datasets(engine: Engine) -> list[DatasetRow]:
    """Every dataset with its item count, by name."""
    try:
        with engine.connect() as conn:
            return [dataset_row(m) for m in conn.execute(_with_counts().order_by("name")).mappings()]
    except SQLAlchemyError as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc


def find_dataset(engine: Engine, name: str) -> DatasetRow | None:
    """The dataset ``name`` with its item count (not its items), or ``None``."""
    try:
        with engine.connect() as conn:
            return _find(conn, name)
    except SQLAlchemyError as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc


def get_dataset(engine: Engine, name: str) -> Dataset | None:
    """The dataset ``name`` with its items (oldest added first), or ``None``."""
    items = _items()
    try:
        with engine.connect() as conn:
            row = _find(conn, name)
            if row is None:
                return None
            query = sa.select(items).where(items.c.dataset_id == row.id).order_by(items.c.id)
            return Dataset(row, [item_row(m) for m in conn.execute(query).mappings()])
    except SQLAlchemyError as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc


# --- helpers -------------------------------------------------------------------------------------


def _datasets() -> sa.Table:
    return table("datasets")


def _items() -> sa.Table:
    return table("dataset_items")


def _not_found(name: str) -> DatasetNotFound:
    return DatasetNotFound(f"no dataset named {name[:MAX_NAME]!r}", param="name")


def _with_counts() -> sa.Select[Any]:
    datasets, items = _datasets(), _items()
    counts = (
        sa.select(items.c.dataset_id, sa.func.count().label("items")).group_by(items.c.dataset_id).subquery()
    )
    return sa.select(datasets, sa.func.coalesce(counts.c["items"], 0).label("items")).outerjoin(
        counts, counts.c.dataset_id == datasets.c.id
    )


def _find(conn: Connection, name: str) -> DatasetRow | None:
    found = conn.execute(_with_counts().where(_datasets().c.name == name)).mappings().first()
    return dataset_row(found) if found is not None else None


def _insert_dataset(conn: Connection, name: str, now: datetime, values: Mapping[str, Any]) -> int:
    key = conn.execute(
        sa.insert(_datasets()).values(name=name, created_at=now, **values)
    ).inserted_primary_key
    assert key is not None
    return int(key[0])


def _unique(items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``items`` without a request repeated (the first one kept)."""
    seen: set[str] = set()
    out: list[Mapping[str, Any]] = []
    for item in items:
        request_id = item.get("request_id")
        if request_id:
            if request_id in seen:
                continue
            seen.add(request_id)
        out.append(item)
    return out


def _held_requests(conn: Connection, dataset_id: int, request_ids: list[str]) -> set[str]:
    if not request_ids:
        return set()
    items = _items()
    held: set[str] = set()
    for start in range(0, len(request_ids), 500):  # bound the IN list
        chunk = request_ids[start : start + 500]
        query = sa.select(items.c.request_id).where(
            items.c.dataset_id == dataset_id, items.c.request_id.in_(chunk)
        )
        held.update(r for (r,) in conn.execute(query))
    return held


def _insert_items(
    conn: Connection, dataset_id: int, items: Sequence[Mapping[str, Any]], actor: str, now: datetime
) -> int:
    rows = [item_values(item, dataset_id, actor[:MAX_ACTOR], now) for item in items]
    if rows:
        conn.execute(sa.insert(_items()), rows)
    return len(rows)
