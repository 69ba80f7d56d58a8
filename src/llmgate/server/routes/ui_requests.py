"""The dashboard's request log: ``GET /ui/api/requests`` (search) and ``/ui/api/requests/{id}``.

The list is ``store.traffic.search_requests``: newest first, filtered by model, endpoint (the path
after ``/v1/``), status (``ok``,
``error``, an HTTP status code or a class such as ``4xx``), key, time range and free text (in the
prompt or the response, case-insensitive; see ``store.request_filter``), a page at a time
(``cursor`` from the previous page's ``next_cursor``). Each row carries short previews of the
prompt and the response. The detail is the whole record
(``store.records.get_record``) with its JSON columns parsed: messages, response, tool calls,
attempts, tokens, cost, timings, tags, key and team; and ``retrieved_context``, the passages of a
RAG request, found where the retrieval-quality monitor finds them (``monitors.rag_extract``); and
``scores``, every score the request got and from whom (feedback, the monitor's: ``store.scores``).

Records hold untrusted text (prompts, responses): it goes out as JSON strings, and the pages put
it on screen with ``textContent`` only.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from llmgate.config.time_range import check_moment
from llmgate.errors import InvalidRequest, LlmgateError
from llmgate.monitors.rag_extract import HEADER_KEY, find_context
from llmgate.monitors.rag_quality import context_sources
from llmgate.protocol.message_text import message_text
from llmgate.server.deps import app_state, schema_ready
from llmgate.server.params import refuse_nul
from llmgate.server.ui_auth import require_ui_admin
from llmgate.server.ui_common import Since, Until, json_response, time_range
from llmgate.store.money import cost_text

if TYPE_CHECKING:
    from llmgate.config.monitors import RagSettings

router = APIRouter(
    prefix="/ui/api",
    include_in_schema=False,
    dependencies=[Depends(refuse_nul), Depends(require_ui_admin), Depends(schema_ready)],
)


class RecordNotFound(LlmgateError):
    """No recorded request has that id."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


PREVIEW_CHARS = 160
_RECORD_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
PAGE_SIZE = 50
_USER_CONTENT = re.compile(r'"role":"user","content":"((?:[^"\\]|\\.)*)"')
_JSON_COLUMNS = {
    "request_json": "request",
    "tool_calls_json": "tool_calls",
    "attempts_json": "attempts_detail",
    "tags_json": "tags",
    "metadata_json": "metadata",
}


@router.get("/requests")
def list_requests(
    request: Request,
    since: Since = None,
    until: Until = None,
    model: Annotated[str | None, Query(description="Only this model alias.")] = None,
    endpoint: Annotated[str | None, Query(description="Only this endpoint (the path after /v1/).")] = None,
    status: Annotated[
        str | None, Query(description="ok, error, an HTTP status code or a class (4xx).")
    ] = None,
    key: Annotated[str | None, Query(description="Only this key (its id or alias).")] = None,
    q: Annotated[str | None, Query(description="Text in the prompt or the response.")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE,
) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.store.keys import load_keys
    from llmgate.store.request_filter import parse_endpoint, parse_status
    from llmgate.store.traffic import MAX_TEXT, RequestFilter, search_requests

    state = app_state(request)
    start, end = time_range(state, since, until)
    text = (q or "").strip()
    if len(text) > MAX_TEXT:
        raise InvalidRequest(f"q: at most {MAX_TEXT} characters", param="q")
    where = RequestFilter(
        since=start,
        until=end,
        model=model or None,
        endpoint=parse_endpoint(endpoint or None),
        key_id=key or None,
        text=text or None,
        **parse_status(status),
    )
    rows = search_requests(state.engine, where, before=_read_cursor(cursor), limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    aliases = {k.id: k.alias for k in load_keys(state.engine)}
    return json_response(
        {
            "since": start.isoformat(),
            "until": end.isoformat(),
            "rows": [_summary(row, aliases) for row in rows],
            "next_cursor": _cursor(rows[-1]) if more and rows else None,
        }
    )


@router.get("/requests/{record_id}")
def request_detail(request: Request, record_id: str) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.store.keys import get_key
    from llmgate.store.records import get_record
    from llmgate.store.scores import request_scores

    state = app_state(request)
    row = get_record(state.engine, record_id) if _RECORD_ID.fullmatch(record_id) else None
    if row is None:
        raise RecordNotFound(f"No request with id {record_id!r}.")
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name in _JSON_COLUMNS:
            out[_JSON_COLUMNS[name]] = _json_or_text(value)
        else:
            out[name] = _plain(value)
    key = get_key(state.engine, row["key_id"]) if row.get("key_id") else None
    out["key_alias"] = key.alias if key is not None else None
    out["attempts_detail"] = out.get("attempts_detail") or []
    out["retrieved_context"] = _retrieved_context(state.config.llmgate.monitors.rag, out)
    # every score it got, from whom: feedback on it and its session, and the monitor's
    out["scores"] = [
        {k: _plain(v) for k, v in score.items()} for score in request_scores(state.engine, record_id)
    ]
    return json_response(out)


# --- helpers -----------------------------------------------------------------------------------

#: Where a request's retrieved context came from, for people (``monitors.rag_extract.SOURCES``).
_CONTEXT_FROM = {
    "header": "the x-llmgate-context header",
    "tool": "the tool messages of the last turn",
    "delimited": "delimited sections of the prompt",
}


def _retrieved_context(rag: RagSettings, record: dict[str, Any]) -> dict[str, Any] | None:
    """The passages of a RAG request, found where the retrieval-quality monitor finds them (the
    configured ``llmgate.monitors.rag`` sources), or None."""

    request = record.get("request")
    metadata = dict(record["metadata"]) if isinstance(record.get("metadata"), dict) else {}
    header = metadata.pop(HEADER_KEY, None)
    found = find_context(
        request if isinstance(request, dict) else {},
        metadata=metadata,
        header_context=header if isinstance(header, str) else None,
        sources=context_sources(rag),
    )
    if found is None:
        return None
    source, passages = found
    where = f"metadata.{rag.metadata_key}" if source == "metadata" else _CONTEXT_FROM[source]
    return {"source": source, "from": where, "passages": list(passages)}


def _cursor(row: dict[str, Any]) -> str:
    raw = f"{row['created_at'].isoformat()}|{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (time, id) a ``next_cursor`` carries; anything else (a forged time or id) is a 400."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, record_id = raw.partition("|")
        if not _RECORD_ID.fullmatch(record_id):
            raise ValueError("not a record id")
        return check_moment(datetime.fromisoformat(moment), "cursor", cursor), record_id
    except (binascii.Error, UnicodeDecodeError, ValueError, InvalidRequest):
        raise InvalidRequest("cursor: not a cursor this API gave out", param="cursor") from None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return cost_text(value)
    return value


def _json_or_text(value: str | None) -> Any:
    if not value:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _summary(row: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    out = {
        name: _plain(value) for name, value in row.items() if name not in ("request_head", "response_head")
    }
    out["tags"] = _json_or_text(out.pop("tags_json", None))
    out["key_alias"] = aliases.get(row["key_id"]) if row.get("key_id") else None
    out["prompt_preview"] = _short(prompt_preview(row.get("request_head")))
    out["response_preview"] = _short(row.get("response_head") or "")
    return out


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def prompt_preview(head: str | None) -> str:
    """The last user message (or the prompt, or the input) from the start of a stored request."""
    if not head:
        return ""
    try:
        body = orjson.loads(head)
    except orjson.JSONDecodeError:  # cut short: find the last complete user message
        found = _USER_CONTENT.findall(head)
        if not found:
            return ""
        try:
            return str(orjson.loads(f'"{found[-1]}"'))
        except orjson.JSONDecodeError:
            return ""
    if not isinstance(body, dict):
        return ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message.get("content"))
    for field in ("prompt", "input"):
        value = body.get(field)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value and isinstance(value[0], str):
            return value[0]
    return ""
