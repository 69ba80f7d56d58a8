"""Requests whose text holds a phrase, newest first: looked for in Python, page by page.

The bodies are packed (``store/bodies.py``), so SQL cannot look inside them. A search reads the
requests the rest of its filter keeps, newest first, in pages that grow from ``_FIRST_PAGE`` to
``_LAST_PAGE`` rows, unpacks each page's bodies and keeps the rows that match, until it has
``limit`` of them or none are left. A phrase only rare or old requests hold reads the whole range
the filter gives: narrow it by time (``--since``) where there is much traffic.

A match is the phrase in the request as stored (JSON, where a quote or a backslash in a message is
escaped) or in the response's text, ignoring case as Unicode folds it (``É`` is ``é``, ``SS`` is
``ß``; the SQL ``ILIKE`` this replaced folded only ASCII on SQLite).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from llmgate.store.models import UTCDateTime, requests_table
from llmgate.store.request_filter import MAX_TEXT

_FIRST_PAGE = 200
_LAST_PAGE = 5000


def text_matches(request_json: str | None, response_text: str | None, text: str) -> bool:
    """Whether ``text`` (its first ``MAX_TEXT`` characters, ignoring case) is in a request's stored
    JSON or its response text."""
    term = text[:MAX_TEXT].casefold()
    in_json = orjson.dumps(term).decode()[1:-1]
    return bool(
        (request_json and in_json in request_json.casefold())
        or (response_text and term in response_text.casefold())
    )


def older_than(at: datetime, record_id: str) -> sa.ColumnElement[bool]:
    """Requests before ``(at, record_id)`` in the newest-first order of the request lists."""
    table = requests_table()
    moment = sa.bindparam(None, at, type_=UTCDateTime())
    return sa.or_(table.c.created_at < moment, sa.and_(table.c.created_at == moment, table.c.id < record_id))


def newest(
    conn: Connection, query: sa.Select[Any], limit: int, text: str | None = None
) -> list[dict[str, Any]]:
    """The first ``limit`` rows of ``query`` (ordered newest first by ``created_at``, ``id``, with no
    limit of its own; it selects ``id``), and with ``text`` only those that ``text_matches``: then
    the pages read only the id, the time and the bodies, and the whole rows of the matches are read
    at the end."""
    if not text:
        return [dict(row) for row in conn.execute(query.limit(limit)).mappings()]
    table = requests_table()
    scan = query.with_only_columns(
        table.c.id, table.c.created_at, table.c.request_json, table.c.response_text
    )
    matched: list[str] = []
    page = max(_FIRST_PAGE, limit)
    after: tuple[datetime, str] | None = None
    while len(matched) < limit:
        select = scan if after is None else scan.where(older_than(*after))
        rows = conn.execute(select.limit(page)).all()
        matched += [row.id for row in rows if text_matches(row.request_json, row.response_text, text)]
        if len(rows) < page:
            break
        after = (rows[-1].created_at, rows[-1].id)
        page = min(page * 2, _LAST_PAGE)
    if not matched:
        return []
    return [dict(row) for row in conn.execute(query.where(table.c.id.in_(matched[:limit]))).mappings()]
