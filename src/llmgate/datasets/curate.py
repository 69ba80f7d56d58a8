"""Datasets as the CLI, the admin API and the dashboard use them: one function per verb.

- ``create_from_logs``: select from the recorded calls (``select.py``: the filter, stratified
  sampling, near-duplicate removal, PII scrubbing) and store the result as a dataset, with the
  query that made it (``LogQuery``: bounds as UTC ISO times, so the query says what it selected
  whenever it is read); ``Created`` carries the selection's counts for the report.
- ``add_requests`` / ``add_session``: copy recorded calls into a dataset (made when missing),
  idempotent per request; an id with no recorded call is ``NotRecorded`` (404, ``select.py``).
  ``rag``: the config's ``llmgate.monitors.rag``, so the context is found where the monitor
  finds it (the default sources without it).
- ``export``: the dataset as an eval suite (``export.py``).
- ``dataset_json`` / ``datasets_json``: the JSON shape of ``dataset show`` / ``list`` and
  ``GET /admin/datasets[/{name}]``.

``item_values`` / ``item_of`` turn a ``DatasetItem`` into the store's item fields and back
(``store/datasets.py`` knows nothing of this package). Who changed what goes to the audit log
as ``actor`` (``cli:<os user>``, ``api:master``, ``api:<key id>``, ``ui:<subject>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from llmgate.datasets.export import SuiteExport, export_suite
from llmgate.datasets.item import DatasetItem, Rating
from llmgate.datasets.select import (
    NotRecorded,
    Selection,
    items_for_requests,
    items_for_session,
    select_items,
)
from llmgate.errors import InvalidRequest
from llmgate.monitors.rag_quality import context_sources
from llmgate.store import datasets as store
from llmgate.store.datasets import AddOutcome, Dataset, DatasetNotFound, DatasetRow, ItemRow

if TYPE_CHECKING:
    from llmgate.config.monitors import RagSettings
    from llmgate.quality.embedding import TextEmbedder

__all__ = [
    "Created",
    "LogQuery",
    "NotRecorded",
    "add_requests",
    "add_session",
    "create_from_logs",
    "dataset_json",
    "datasets_json",
    "export",
    "item_of",
    "item_values",
]


@dataclass(frozen=True, slots=True)
class LogQuery:
    """What ``dataset create --from-logs`` selects (``select.select_items``'s parameters)."""

    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    where: str | None = None
    sample: int | None = None
    dedupe: bool = False
    keep_pii: bool = False
    seed: int = 0

    def as_json(self) -> dict[str, Any]:
        """The query as the dataset keeps it: times in UTC ISO form."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "model": self.model,
            "where": self.where,
            "sample": self.sample,
            "dedupe": self.dedupe,
            "keep_pii": self.keep_pii,
            "seed": self.seed,
        }


@dataclass(frozen=True, slots=True)
class Created:
    dataset: DatasetRow
    selection: Selection


def create_from_logs(
    engine: Engine,
    name: str,
    query: LogQuery,
    *,
    actor: str,
    zone: str = "UTC",
    description: str | None = None,
    replace: bool = False,
    rag: RagSettings | None = None,
    embedder: TextEmbedder | None = None,
) -> Created:
    """Select the recorded calls ``query`` names and store them as dataset ``name``."""
    store.check_name(name)
    if not replace and store.find_dataset(engine, name) is not None:  # before the (slow) selection
        raise store.name_taken(name)
    selection = select_items(
        engine,
        since=query.since,
        until=query.until,
        model=query.model,
        where=query.where,
        sample=query.sample,
        dedupe=query.dedupe,
        keep_pii=query.keep_pii,
        zone=zone,
        seed=query.seed,
        embedder=embedder,
        sources=context_sources(rag) if rag is not None else None,
    )
    row = store.create_dataset(
        engine,
        name,
        [item_values(item) for item in selection.items],
        actor=actor,
        description=description,
        query=query.as_json(),
        replace=replace,
    )
    return Created(row, selection)


def add_requests(
    engine: Engine,
    name: str,
    request_ids: Sequence[str],
    *,
    actor: str,
    keep_pii: bool = False,
    rag: RagSettings | None = None,
) -> AddOutcome:
    """Copy these recorded requests into ``name`` (made when missing); already there: skipped.
    ``NotRecorded`` for an id without a recorded call, ``InvalidRequest`` for one without a prompt."""
    store.check_name(name)
    sources = context_sources(rag) if rag is not None else None
    items = items_for_requests(engine, request_ids, keep_pii=keep_pii, sources=sources)
    return store.add_items(engine, name, [item_values(i) for i in items], actor=actor, create=True)


def add_session(
    engine: Engine,
    name: str,
    session_id: str,
    *,
    actor: str,
    keep_pii: bool = False,
    rag: RagSettings | None = None,
) -> AddOutcome:
    """Copy every recorded call of session ``session_id`` with a chat prompt into ``name`` (made
    when missing); ``NotRecorded`` for a session without calls."""
    store.check_name(name)
    sources = context_sources(rag) if rag is not None else None
    items = items_for_session(engine, session_id, keep_pii=keep_pii, sources=sources)
    if not items:
        raise InvalidRequest(
            f"no call of session {session_id[:128]!r} has a chat prompt to make a case of", param="session_id"
        )
    return store.add_items(engine, name, [item_values(i) for i in items], actor=actor, create=True)


def export(engine: Engine, name: str, *, models: Sequence[str] = ()) -> SuiteExport:
    """Dataset ``name`` as an eval suite; ``DatasetNotFound`` when there is none."""
    dataset = _dataset(engine, name)
    return export_suite(
        name, [item_of(i) for i in dataset.items], models=models, description=dataset.row.description
    )


def _dataset(engine: Engine, name: str) -> Dataset:
    found = store.get_dataset(engine, name)
    if found is None:
        raise DatasetNotFound(f"no dataset named {name[:128]!r}", param="name")
    return found


# --- between the package's items and the store's rows -----------------------------------------


def item_values(item: DatasetItem) -> dict[str, Any]:
    """The store's fields of ``item`` (``store.datasets.ITEM_FIELDS``)."""
    return {
        "request_id": item.request_id,
        "session_id": item.session_id,
        "model": item.model,
        "created_at": item.created_at,
        "messages": item.messages,
        "context": item.context,
        "answer": item.answer,
        "rating": item.rating,
        "scores": item.scores,
    }


def item_of(row: ItemRow) -> DatasetItem:
    """The ``DatasetItem`` a stored item holds."""
    rating: Rating | None = "good" if row.rating == "good" else "bad" if row.rating == "bad" else None
    return DatasetItem(
        request_id=row.request_id,
        model=row.model,
        created_at=row.created_at,
        messages=row.messages,
        session_id=row.session_id,
        context=row.context,
        answer=row.answer,
        rating=rating,
        scores=row.scores,
    )


# --- JSON ----------------------------------------------------------------------------------------


def datasets_json(rows: Sequence[DatasetRow]) -> list[dict[str, Any]]:
    """``dataset list --format json`` and ``GET /admin/datasets``' ``datasets``."""
    return [_row_json(row) for row in rows]


def dataset_json(dataset: Dataset) -> dict[str, Any]:
    """``dataset show --format json`` and ``GET /admin/datasets/{name}``."""
    items = [
        {
            "id": i.id,
            "request_id": i.request_id,
            "session_id": i.session_id,
            "model": i.model,
            "created_at": i.created_at.isoformat(),
            "messages": i.messages,
            "context": i.context,
            "answer": i.answer,
            "rating": i.rating,
            "scores": i.scores,
            "added_at": i.added_at.isoformat(),
            "added_by": i.added_by,
        }
        for i in dataset.items
    ]
    return {**_row_json(dataset.row), "items": items}


def _row_json(row: DatasetRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "description": row.description,
        "items": row.items,
        "query": row.query,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }
