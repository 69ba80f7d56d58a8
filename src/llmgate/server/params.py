"""Checks shared by the admin API's and the dashboard's query parameters.

A bad parameter is the client's mistake and is answered 400 with a message naming it, never a 500
or a 503 that blames the store:

- ``refuse_nul``: a router dependency of every ``/admin`` and ``/ui`` router. A NUL character in the
  path or in any query parameter is refused before a handler runs (PostgreSQL cannot hold one in
  text, so it would otherwise end as a "store unavailable" answer; nothing legitimate sends one).
- ``check_window``: a monitor window (``1h``, ``24h``, ``N`` requests) within what the monitors can
  evaluate (``MAX_WINDOW_S``, ``MAX_WINDOW_REQUESTS``).

Time bounds (``since``, ``until``, ``as_of``, cursors) are read and checked by
``config.time_range``, which the CLI uses too.
"""

from __future__ import annotations

from fastapi import Request

from llmgate.config.monitors import parse_window
from llmgate.errors import InvalidRequest

#: the longest time span and the most requests a monitor window given as a parameter may cover
MAX_WINDOW_S = 3650 * 86400
MAX_WINDOW_REQUESTS = 100_000
NUL = "\x00"


async def refuse_nul(request: Request) -> None:
    """400 for a NUL character in the path or in a query parameter's name or value."""
    if NUL in request.url.path:
        raise InvalidRequest("The path contains a NUL character.", param="path")
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            shown = name.replace(NUL, "\\0")[:64]
            raise InvalidRequest(f"{shown}: a query parameter may not contain a NUL character", param=shown)


def check_window(window: str | None) -> str | None:
    """``window`` if it is a monitor window the monitors can evaluate, else an ``InvalidRequest``."""
    if window is None:
        return None
    try:
        spec = parse_window(window)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="window") from None
    if spec.seconds is not None and spec.seconds > MAX_WINDOW_S:
        raise InvalidRequest(
            f"window: at most {MAX_WINDOW_S // 86400} days, got {window[:64]!r}", param="window"
        )
    if spec.requests is not None and spec.requests > MAX_WINDOW_REQUESTS:
        raise InvalidRequest(
            f"window: at most {MAX_WINDOW_REQUESTS:,} requests, got {window[:64]!r}", param="window"
        )
    return window
