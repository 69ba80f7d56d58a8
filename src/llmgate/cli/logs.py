"""``llmgate logs``: the recorded requests, newest first, as a table or JSON; ``logs ID``: one whole.

Filters (all must match; ``store.request_filter`` says what each means): ``--since`` / ``--until``
as every command reads them (``config.time_range``: a date is midnight in ``llmgate.time_zone``,
``--until`` exclusive),
``--model``, ``--endpoint`` (the path after ``/v1/``: ``chat/completions``, ``responses``,
``messages``, ``images/generations``, ...), ``--key`` (id or alias), ``--team``, ``--user``,
``--tag NAME=VALUE`` (repeatable),
``--status`` (``ok``, ``error``, ``429``, ``4xx``), ``--cache`` (what the response cache did:
``hit``, ``semantic-hit``, ``miss``, ``bypass``) and ``--text`` (in the prompt or the response,
case-insensitive). The table has a ``cache`` column when a listed record has a cache status.
``logs --session ID`` shows one session's calls as a tree with their totals (``cli/sessions.py``).
Times in the table and the single view are in ``llmgate.time_zone``; JSON keeps ISO 8601 with the
offset. A bad option is one line and exit 2; an unknown ID one line and exit 1.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import orjson
import typer

from llmgate.cli.common import ConfigOption, RangeSince, RangeUntil, fail, option_error, store_and_zone
from llmgate.cli.log_record import render
from llmgate.cli.sessions import show_session
from llmgate.errors import InvalidRequest
from llmgate.store.money import cost_text, usd

if TYPE_CHECKING:
    from sqlalchemy import Engine

JSON_COLUMNS = {
    "request_json": "request",
    "tool_calls_json": "tool_calls",
    "attempts_json": "path",
    "tags_json": "tags",
    "metadata_json": "metadata",
}


class LogFormat(StrEnum):
    table = "table"
    json = "json"


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in JSON_COLUMNS:
            out[JSON_COLUMNS[key]] = orjson.loads(value) if value else None
        elif isinstance(value, Decimal):  # money: exact, as the reports write it
            out[key] = cost_text(value)
        else:
            out[key] = value
    return out


def _path(row: dict[str, Any]) -> str:
    attempts = orjson.loads(row["attempts_json"]) if row.get("attempts_json") else []
    return " → ".join(
        a["deployment"] + ("" if a["status"] == "success" else f" ✗{a.get('status_code') or ''}")
        for a in attempts
    )


def logs(
    record_id: Annotated[
        str | None,
        typer.Argument(metavar="ID", help="Show this record whole: its id, or a unique start of it."),
    ] = None,
    config: ConfigOption = None,
    since: RangeSince = None,
    until: RangeUntil = None,
    model: Annotated[str | None, typer.Option(help="Only this model alias (as asked for).")] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(help="Only this endpoint: the path after /v1/ (chat/completions, responses, ...)."),
    ] = None,
    key: Annotated[str | None, typer.Option(help="Only this virtual key: its id or alias.")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this end user (the request's user).")] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(help="Only with this tag: NAME=VALUE, or NAME for any value. Repeatable."),
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="ok, error, an HTTP status code (429) or a class (4xx).")
    ] = None,
    text: Annotated[
        str | None, typer.Option(help="Only with this text in the prompt or the response (any case).")
    ] = None,
    cache: Annotated[
        str | None,
        typer.Option(help="Only what the response cache did so: hit, semantic-hit, miss or bypass."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many rows.")] = 50,
    format: Annotated[LogFormat, typer.Option("--format", help="table or json.")] = LogFormat.table,
    session: Annotated[
        str | None,
        typer.Option(help="Show this session's calls as a tree (parent → children) with its totals."),
    ] = None,
) -> None:
    # SQLAlchemy (the store): off `llmgate logs --help`
    from llmgate.config.time_range import parse_range
    from llmgate.store.records import list_records
    from llmgate.store.request_filter import (
        MAX_TEXT,
        RequestFilter,
        parse_cache,
        parse_endpoint,
        parse_status,
        parse_tag,
    )

    with store_and_zone(config, read_only=True) as (engine, tz):
        if session is not None:
            if record_id is not None:
                fail("give a record ID or --session, not both", code=2)
            show_session(engine, session, tz, as_json=format is LogFormat.json)
            return
        if record_id is not None:
            _show_one(engine, record_id.strip(), tz, format)
            return
        try:
            start, end = parse_range(since, until, tz)
            needle = (text or "").strip()
            if len(needle) > MAX_TEXT:
                raise InvalidRequest(f"text: at most {MAX_TEXT} characters", param="text")
            where = RequestFilter(
                since=start,
                until=end,
                model=model,
                endpoint=parse_endpoint(endpoint),
                key_id=key,
                team_id=team,
                user=user,
                tags=tuple(parse_tag(item) for item in tag or ()),
                text=needle or None,
                cache=parse_cache(cache),
                **parse_status(status),
            )
        except InvalidRequest as exc:
            option_error(exc)
        rows = list_records(engine, where, limit=limit)
    if format is LogFormat.json:
        typer.echo(orjson.dumps([_plain(r) for r in rows], default=str, option=orjson.OPT_INDENT_2).decode())
        return
    _print_table(rows, tz)


def _show_one(engine: Engine, record_id: str, tz: str, format: LogFormat) -> None:
    # SQLAlchemy (the store): off `llmgate logs --help`
    from llmgate.store.keys import get_key
    from llmgate.store.records import get_record, records_by_id_prefix

    row = get_record(engine, record_id)
    if row is None:
        found = records_by_id_prefix(engine, record_id)
        if len(found) > 1:
            fail(f"id prefix {record_id[:64]!r} matches several records: give more characters")
        if not found:
            fail(f"no recorded request with id {record_id[:64]!r}")
        row = found[0]
    if format is LogFormat.json:
        typer.echo(orjson.dumps(_plain(row), default=str, option=orjson.OPT_INDENT_2).decode())
        return
    key = get_key(engine, row["key_id"]) if row.get("key_id") else None
    typer.echo(render(row, tz, key.alias if key is not None else None))


def _print_table(rows: list[dict[str, Any]], tz: str) -> None:

    # rich: off `llmgate logs --help`
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    zone = ZoneInfo(tz)
    cached = any(row.get("cache") for row in rows)  # the cache column only where a cache was on
    table = Table(box=None, header_style="bold")
    for column in (
        f"time ({tz})",
        "id",
        "model",
        "path",
        "status",
        *(("cache",) if cached else ()),
        "in",
        "out",
        "cost $",
        "latency ms",
        "ttft ms",
    ):
        table.add_column(
            column, justify="right" if column in ("in", "out", "cost $", "latency ms", "ttft ms") else "left"
        )
    for row in rows:
        estimated = "~" if row.get("tokens_estimated") else ""
        cost = row.get("cost_usd")
        table.add_row(
            row["created_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            row["id"][:12],
            escape(row["model"]) if row["model"] else "-",
            escape(_path(row)) or "-",
            row["status"]
            if row["status"] == "success"
            else f"[red]{row['status_code']} {escape(row['error_type'] or '')}[/]",
            *((escape(row.get("cache") or "-"),) if cached else ()),
            f"{estimated}{row['prompt_tokens']}" if row.get("prompt_tokens") is not None else "-",
            f"{estimated}{row['completion_tokens']}" if row.get("completion_tokens") is not None else "-",
            usd(cost) if cost is not None else ("?" if row.get("cost_unknown") else "-"),
            f"{row['latency_ms']:.1f}",
            f"{row['ttft_ms']:.1f}" if row.get("ttft_ms") is not None else "-",
        )
    # Piped output (scripts, CI logs) gets full rows instead of an 80-column squeeze.
    console = Console(width=None if sys.stdout.isatty() else 240)
    if not rows:
        console.print("no recorded requests match")
        return
    console.print(table)
