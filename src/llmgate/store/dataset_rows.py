"""What a dataset and its items are as the store hands them out: the rows, the rules on names.

- ``DatasetRow`` (a dataset with its item count), ``ItemRow`` (one item, its JSON fields read),
  ``Dataset`` (a dataset with its items), ``AddOutcome`` (what ``add_items`` did);
  ``DatasetNotFound`` (404, ``not_found``).
- ``check_name``: a dataset name is 1 to 128 letters, digits, ``.``, ``_`` or ``-``, starting with
  a letter or a digit (it goes in URLs and file names); ``name_taken``: the ``conflict`` error.
- ``ITEM_FIELDS`` and ``item_values``: an item as callers hand it over (a mapping of those
  fields) made into the columns of ``dataset_items`` (the JSON fields as text); ``dataset_row``
  and ``item_row`` read rows back. ``store/datasets.py`` runs the queries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from llmgate.errors import InvalidRequest, LlmgateError
from llmgate.store.dataset_tables import MAX_DESCRIPTION, MAX_NAME

__all__ = [
    "ITEM_FIELDS",
    "AddOutcome",
    "Dataset",
    "DatasetNotFound",
    "DatasetRow",
    "ItemRow",
    "check_description",
    "check_name",
    "dataset_row",
    "item_row",
    "item_values",
    "name_taken",
]

ITEM_FIELDS = (
    "request_id",
    "session_id",
    "model",
    "created_at",
    "messages",
    "context",
    "answer",
    "rating",
    "scores",
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_JSON_FIELDS = {"messages": "messages_json", "context": "context_json", "scores": "scores_json"}


class DatasetNotFound(LlmgateError):
    """No dataset by that name."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


@dataclass(frozen=True, slots=True)
class DatasetRow:
    id: int
    name: str
    description: str | None
    query: dict[str, Any] | None  # the query that made it from the logs; None: curated by hand
    created_at: datetime
    updated_at: datetime
    items: int


@dataclass(frozen=True, slots=True)
class ItemRow:
    id: int
    request_id: str | None
    session_id: str | None
    model: str
    created_at: datetime
    messages: list[dict[str, Any]]
    context: list[str] | None
    answer: str | None
    rating: str | None
    scores: dict[str, Any]
    added_at: datetime
    added_by: str


@dataclass(frozen=True, slots=True)
class Dataset:
    row: DatasetRow
    items: list[ItemRow]


@dataclass(frozen=True, slots=True)
class AddOutcome:
    dataset: DatasetRow
    added: int  # items inserted
    present: int  # requests already in the dataset (or repeated in the batch): skipped
    created: bool  # the dataset was made by this call


def check_name(name: str) -> str:
    """``name`` if it may name a dataset; ``InvalidRequest`` (param ``name``) if not."""
    if not isinstance(name, str) or len(name) > MAX_NAME or not _NAME.fullmatch(name):
        raise InvalidRequest(
            f"name: a dataset name is 1 to {MAX_NAME} letters, digits, '.', '_' or '-', starting with "
            f"a letter or a digit; got {str(name)[:64]!r}",
            param="name",
        )
    return name


def name_taken(name: str) -> InvalidRequest:
    """The error for a new dataset whose name is taken (code ``conflict``, param ``name``)."""
    return InvalidRequest(
        f"a dataset named {name!r} exists already (replace it, or choose another name)",
        param="name",
        code="conflict",
    )


def check_description(text: str | None) -> str | None:
    if text is not None and (len(text) > MAX_DESCRIPTION or "\x00" in text):
        raise InvalidRequest(f"description: at most {MAX_DESCRIPTION} characters", param="description")
    return text or None


def item_values(item: Mapping[str, Any], dataset_id: int, actor: str, now: datetime) -> dict[str, Any]:
    unknown = set(item) - set(ITEM_FIELDS)
    if unknown:
        raise ValueError(f"unknown item fields: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {"dataset_id": dataset_id, "added_at": now, "added_by": actor}
    for name in ITEM_FIELDS:
        value = item.get(name)
        if name in _JSON_FIELDS:
            values[_JSON_FIELDS[name]] = orjson.dumps(value).decode() if value is not None else None
        else:
            values[name] = value
    if values["messages_json"] is None:
        values["messages_json"] = "[]"
    return values


def _json(text: str | None) -> Any:
    return orjson.loads(text) if text else None


def dataset_row(m: Mapping[Any, Any]) -> DatasetRow:
    return DatasetRow(
        id=m["id"],
        name=m["name"],
        description=m["description"],
        query=_json(m["query_json"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        items=int(m["items"]),
    )


def item_row(m: Mapping[Any, Any]) -> ItemRow:
    return ItemRow(
        id=m["id"],
        request_id=m["request_id"],
        session_id=m["session_id"],
        model=m["model"],
        created_at=m["created_at"],
        messages=_json(m["messages_json"]) or [],
        context=_json(m["context_json"]),
        answer=m["answer"],
        rating=m["rating"],
        scores=_json(m["scores_json"]) or {},
        added_at=m["added_at"],
        added_by=m["added_by"],
    )
