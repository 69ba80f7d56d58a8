"""Which recorded requests a search keeps: ``RequestFilter`` and its SQL, for the dashboard and the CLI.

``store.traffic.search_requests`` (the dashboard's request log) and ``store.records.list_records``
(``llmgate logs``) read the ``requests`` table through the same conditions, so a filter means the
same thing wherever it is typed:

- ``since`` inclusive, ``until`` exclusive; ``model``, ``team_id`` and ``user`` exactly.
- ``endpoint``: the path after ``/v1/`` (``chat/completions``, ``responses``, ``messages``, ...), one
  of ``protocol.endpoints.Endpoint``; ``parse_endpoint`` reads it as typed (a leading ``/v1/`` is
  allowed) and refuses any other name, listing the valid ones.
- ``key_id``: a key's id, or its alias (looked up in ``api_keys``; a record keeps the key's id).
- status: ``status`` (``success`` | ``error``), ``status_code`` (``429``) or ``status_class``
  (``4`` for 4xx); ``parse_status`` reads them from the text a user types (``ok``, ``error``,
  ``429``, ``4xx``).
- ``tags``: each ``(NAME, VALUE)`` must be among the record's tags; ``(NAME, None)`` only asks that
  the tag be there. ``parse_tag`` reads ``NAME=VALUE``, ``NAME:VALUE`` or ``NAME``. ``tag_value``
  is the SQL for one tag's value, which the spend reports group by as well.
- ``cache``: what the response cache did (``hit``, ``semantic-hit``, ``miss``, ``bypass``), exactly;
  ``parse_cache`` reads it as typed and refuses any other value.
- ``text``: in the prompt (the stored request JSON, where a quote or a backslash is escaped) or the
  response, ignoring case; at most ``MAX_TEXT`` characters, always a plain substring. The bodies
  are packed, so ``conditions`` leaves it out and ``store.body_search`` looks for it in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from llmgate.errors import InvalidRequest
from llmgate.protocol.endpoints import Endpoint
from llmgate.store.models import requests_table, table

#: longest free-text filter accepted (characters)
MAX_TEXT = 200
_STATUS_CLASS = re.compile(r"^([1-5])xx$")
_ENDPOINTS = tuple(endpoint.value for endpoint in Endpoint)
#: what the response cache records it did with a request (``requests.cache``)
CACHE_RESULTS = ("hit", "semantic-hit", "miss", "bypass")


@dataclass(frozen=True, slots=True)
class RequestFilter:
    """What a request search keeps; every given field must match."""

    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    endpoint: str | None = None  # an Endpoint's value: the path after /v1/
    status: str | None = None  # "success" | "error"
    status_code: int | None = None
    status_class: int | None = None  # 4: any 4xx
    key_id: str | None = None  # a key's id or alias
    team_id: str | None = None
    user: str | None = None
    tags: tuple[tuple[str, str | None], ...] = ()
    text: str | None = None  # in the prompt (request body) or the response, case-insensitive
    cache: str | None = None  # one of CACHE_RESULTS


def parse_status(value: str | None) -> dict[str, Any]:
    """``RequestFilter`` fields for a status as typed: ``ok``, ``error``, ``429``, ``4xx`` or ``all``."""
    text = (value or "").strip().lower()
    if not text or text == "all":
        return {}
    if text in ("ok", "success"):
        return {"status": "success"}
    if text == "error":
        return {"status": "error"}
    if text.isdigit() and len(text) == 3 and 100 <= int(text) <= 599:
        return {"status_code": int(text)}
    match = _STATUS_CLASS.match(text)
    if match:
        return {"status_class": int(match.group(1))}
    shown = (value or "")[:64]
    raise InvalidRequest(
        f"status: use ok, error, an HTTP status code such as 429 or a class such as 4xx, got {shown!r}",
        param="status",
    )


def parse_endpoint(value: str | None) -> str | None:
    """The ``Endpoint`` value for an endpoint as typed (``responses``, ``/v1/chat/completions``)."""
    if value is None:
        return None
    text = value.strip().strip("/").lower().removeprefix("v1/")
    if text in _ENDPOINTS:
        return text
    raise InvalidRequest(
        f"endpoint: use one of {', '.join(_ENDPOINTS)}, got {value[:64]!r}", param="endpoint"
    )


def parse_cache(value: str | None) -> str | None:
    """One of ``CACHE_RESULTS`` as typed (any case), ``None`` for nothing or ``all``."""
    text = (value or "").strip().lower()
    if not text or text == "all":
        return None
    if text in CACHE_RESULTS:
        return text
    raise InvalidRequest(
        f"cache: use one of {', '.join(CACHE_RESULTS)}, got {(value or '')[:64]!r}", param="cache"
    )


def parse_tag(value: str) -> tuple[str, str | None]:
    """``("env", "prod")`` for ``env=prod`` or ``env:prod``; ``("env", None)`` for a bare ``env``."""
    text = value.strip()
    separator = "=" if "=" in text else ":"
    name, found, tag_value_text = text.partition(separator)
    name = name.strip()
    if not name or '"' in name or "\\" in name:
        raise InvalidRequest(f"tag: expected NAME=VALUE or NAME, got {value[:64]!r}", param="tag")
    return name, tag_value_text.strip() if found else None


def tag_value(
    dialect: str, name: str, tags_json: sa.ColumnElement[Any] | None = None
) -> sa.ColumnElement[Any]:
    """The value of tag ``name`` in a record's ``tags_json`` (or in this ``tags_json`` column of
    another table), as text (``NULL`` without it)."""
    tags_json = requests_table().c.tags_json if tags_json is None else tags_json
    if dialect == "postgresql":
        value: sa.ColumnElement[Any] = sa.cast(tags_json, postgresql.JSON)[name].astext
        return value
    # as text, like PostgreSQL's ->> (the recorder writes string values; a number would otherwise
    # compare apart from the same digits as a string)
    path = sa.literal(f'$."{name}"', sa.String)
    return sa.cast(sa.func.json_extract(tags_json, path), sa.Text)


def conditions(where: RequestFilter, dialect: str) -> list[sa.ColumnElement[bool]]:
    """The SQL conditions of ``where`` on the ``requests`` table (all must hold), but its ``text``,
    which ``store.body_search`` looks for in the rows these keep."""
    requests = requests_table()
    out: list[sa.ColumnElement[bool]] = []
    if where.since is not None:
        out.append(requests.c.created_at >= where.since)
    if where.until is not None:
        out.append(requests.c.created_at < where.until)
    if where.model:
        out.append(requests.c.model == where.model)
    if where.endpoint:
        out.append(requests.c.endpoint == where.endpoint)
    if where.status:
        out.append(requests.c.status == where.status)
    if where.status_code is not None:
        out.append(requests.c.status_code == where.status_code)
    if where.status_class is not None:
        low = where.status_class * 100
        out.append(requests.c.status_code.between(low, low + 99))
    if where.key_id:
        keys = table("api_keys")
        by_alias = sa.select(keys.c.id).where(keys.c.alias == where.key_id).scalar_subquery()
        out.append(sa.or_(requests.c.key_id == where.key_id, requests.c.key_id == by_alias))
    if where.team_id:
        out.append(requests.c.team_id == where.team_id)
    if where.user:
        out.append(requests.c.user == where.user)
    for name, value in where.tags:
        tag = tag_value(dialect, name)
        out.append(tag.is_not(None) if value is None else tag == value)
    if where.cache:
        out.append(requests.c.cache == where.cache)
    return out
