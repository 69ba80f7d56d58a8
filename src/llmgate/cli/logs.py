"""``llmgate logs``: the recorded requests, newest first, as a table or JSON."""

from __future__ import annotations

import sys
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import orjson
import typer

from llmgate.cli.common import ConfigOption, parse_since, store_engine

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


class Status(StrEnum):
    success = "success"
    error = "error"


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in JSON_COLUMNS:
            out[JSON_COLUMNS[key]] = orjson.loads(value) if value else None
        elif isinstance(value, Decimal):
            out[key] = float(value)
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
    config: ConfigOption = None,
    since: Annotated[str | None, typer.Option(help="30m, 2h, 7d, or an ISO date/time.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model alias.")] = None,
    status: Annotated[Status | None, typer.Option(help="success or error.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many rows.")] = 50,
    format: Annotated[LogFormat, typer.Option("--format", help="table or json.")] = LogFormat.table,
) -> None:
    from llmgate.store.records import list_records

    with store_engine(config) as engine:
        rows = list_records(
            engine,
            since=parse_since(since),
            model=model,
            status=status.value if status else None,
            limit=limit,
        )
    if format is LogFormat.json:
        typer.echo(orjson.dumps([_plain(r) for r in rows], default=str, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in (
        "time (UTC)",
        "id",
        "model",
        "path",
        "status",
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
            row["created_at"].strftime("%Y-%m-%d %H:%M:%S"),
            row["id"][:12],
            row["model"] or "-",
            _path(row) or "-",
            row["status"]
            if row["status"] == "success"
            else f"[red]{row['status_code']} {row['error_type'] or ''}[/]",
            f"{estimated}{row['prompt_tokens']}" if row.get("prompt_tokens") is not None else "-",
            f"{estimated}{row['completion_tokens']}" if row.get("completion_tokens") is not None else "-",
            f"{cost:.6f}" if cost is not None else ("?" if row.get("cost_unknown") else "-"),
            f"{row['latency_ms']:.1f}",
            f"{row['ttft_ms']:.1f}" if row.get("ttft_ms") is not None else "-",
        )
    # Piped output (scripts, CI logs) gets full rows instead of an 80-column squeeze.
    console = Console(width=None if sys.stdout.isatty() else 240)
    if not rows:
        console.print("no recorded requests match")
        return
    console.print(table)
