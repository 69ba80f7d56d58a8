"""LiteLLM's spend API: ``/spend/logs`` and ``/global/spend/report``.

The master key or an admin key. ``start_date`` and ``end_date`` are dates (a bare ``end_date`` takes
in its whole day, as a finance script asking "April 1 to April 30" means) or times, read in
``llmgate.time_zone``. ``api_key`` names a key by its secret, token or alias; an unknown one
matches nothing. The shapes are LiteLLM's (``reports/litellm_spend.py``); the rows and sums come
from ``store/spend_logs.py`` and ``store/spend.py``, the same data as ``/admin/spend``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request

from llmgate.config.time_range import parse_moment
from llmgate.errors import InvalidRequest
from llmgate.reports.litellm_spend import GROUP_BYS, global_spend_report, spend_log, spend_log_days
from llmgate.server.litellm_common import Admin, Store, find_key, time_zone
from llmgate.server.params import refuse_nul
from llmgate.store import keys as store
from llmgate.store.spend_logs import spend_rows

router = APIRouter(tags=["LiteLLM: spend"], dependencies=[Depends(refuse_nul)])
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: the report's range when a script gives none (LiteLLM requires both)
DEFAULT_DAYS = 30


def _range(start_date: str | None, end_date: str | None, tz: str) -> tuple[datetime | None, datetime | None]:
    since = parse_moment(start_date, tz, param="start_date") if start_date else None
    until = None
    if end_date:
        text = end_date.strip()
        if _DATE.fullmatch(text):  # the whole day: up to the next midnight
            try:
                text = (date.fromisoformat(text) + timedelta(days=1)).isoformat()
            except (ValueError, OverflowError):
                raise InvalidRequest(
                    f"end_date: not a valid date: {end_date[:64]!r}", param="end_date"
                ) from None
        until = parse_moment(text, tz, param="end_date")
    if since is not None and until is not None and until <= since:
        raise InvalidRequest("end_date: must not be before start_date", param="end_date")
    return since, until


def _key_ids(engine: Any, api_key: str | None) -> list[str] | None:
    if api_key is None:
        return None
    row = find_key(engine, api_key)
    return [row.id] if row is not None else []


@router.get("/spend/logs", summary="LiteLLM: spend per request (or per day, over dates)")
def spend_logs(
    request: Request,
    identity: Admin,
    engine: Store,
    api_key: str | None = None,
    user_id: str | None = None,
    request_id: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    summarize: bool = True,
) -> list[dict[str, Any]]:
    tz = time_zone(request)
    since, until = _range(start_date, end_date, tz)
    rows = spend_rows(
        engine,
        key_ids=_key_ids(engine, api_key),
        user=user_id,
        request_id=request_id,
        since=since,
        until=until,
    )
    if start_date and end_date and summarize:
        return spend_log_days(rows, tz)
    aliases = {k.id: k.alias for k in store.load_keys(engine)}
    return [spend_log(row, aliases) for row in rows]


@router.get("/global/spend/report", summary="LiteLLM: spend per day and team, customer or key")
def global_report(
    request: Request,
    identity: Admin,
    engine: Store,
    start_date: str | None = None,
    end_date: str | None = None,
    group_by: str = "team",
    api_key: str | None = None,
    internal_user_id: str | None = None,
) -> list[dict[str, Any]]:
    if group_by not in GROUP_BYS:
        raise InvalidRequest(f"group_by: must be one of {', '.join(GROUP_BYS)}", param="group_by")
    tz = time_zone(request)
    since, until = _range(start_date, end_date, tz)
    until = until or datetime.now(UTC) + timedelta(seconds=1)
    since = since or until - timedelta(days=DEFAULT_DAYS)
    key_ids = _key_ids(engine, api_key)
    if internal_user_id is not None:
        owned = [k.id for k in store.load_keys(engine) if k.user_id == internal_user_id]
        key_ids = owned if key_ids is None else [k for k in key_ids if k in owned]
    names = {t.id: t.alias or t.id for t in store.load_teams(engine)}
    return global_spend_report(
        engine, since, until, group_by=group_by, tz=tz, team_names=names, key_ids=key_ids
    )
