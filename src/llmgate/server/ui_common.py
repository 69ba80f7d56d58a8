"""What the dashboard's data routes share: the ``since``/``until`` query parameters, the UTC range
they select, JSON answers that no cache keeps, and ``cross_site``: whether a browser sent a
request from another site (the check every dashboard write makes: login, logout, adding to a
dataset; ``SameSite=Strict`` keeps the cookie off such requests, this keeps them out).

Ranges are read by ``config.time_range``, as every ``--since`` of the CLI (``24h``, ``7d``, a date:
midnight in ``llmgate.time_zone``, an ISO datetime); ``since`` defaults to 24 hours ago, ``until``
to now. The route modules (``routes/ui_*.py``) import these from here, never from each other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import orjson
from fastapi import Query, Request
from fastapi.responses import Response

from llmgate.config.time_range import parse_range

if TYPE_CHECKING:
    from llmgate.server.app import AppState

__all__ = [
    "DEFAULT_SINCE",
    "NO_STORE",
    "Since",
    "Until",
    "cross_site",
    "json_response",
    "time_range",
]

DEFAULT_SINCE = "24h"
NO_STORE = {"Cache-Control": "no-store"}

Since = Annotated[str | None, Query(description="Start (24h, 7d, a date, an ISO datetime).")]
Until = Annotated[str | None, Query(description="Exclusive end, as since. Default: now.")]


def json_response(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json", headers=NO_STORE)


def time_range(state: AppState, since: str | None, until: str | None) -> tuple[datetime, datetime]:
    """The UTC bounds of a dashboard range (``since`` defaults to 24 hours ago, ``until`` to now)."""
    tz = state.config.llmgate.time_zone
    now = datetime.now(UTC)
    start, end = parse_range(since or DEFAULT_SINCE, until, tz, now=now, default_until=now)
    assert start is not None and end is not None
    return start, end


def cross_site(request: Request) -> bool:
    """A request a browser sent from another site (a form or a script elsewhere)."""
    origin = request.headers.get("origin")
    if origin is None:  # not sent by a browser, or a same-origin request from an older one
        return False
    return origin == "null" or urlsplit(origin).netloc != request.headers.get("host", "")
