"""``llmgate sessions list`` and ``llmgate logs --session ID``: agent and conversation sessions.

A session is the run of calls a client grouped with ``x-llmgate-session-id`` (or
``metadata.session_id``, or LiteLLM's ``litellm_session_id``), each naming its parent call and its
step if it likes (``protocol/session_headers.py``). The store is read through
``store/call_sessions.py`` and shaped by ``reports/sessions.py``, as the admin API and the
dashboard do.

- ``logs --session ID``: the session's calls as a tree (a call under the call it names as its
  parent; calls without a parent in the session at the root, in time order), with model, step,
  status, tokens, cost and latency per call and the session's totals; ``--format json`` is
  ``GET /admin/sessions/{id}``'s answer. An unknown session is one line and exit 1.
- ``sessions list [--since] [--until] [--user] [--model] [--limit] [--format table|csv|json]``:
  one line per session with calls in the range, the most recently active first: first and last
  call, calls, errors, users, models, tokens and cost. ``--user`` / ``--model`` keep the sessions
  with such a call. Ranges as every command reads them (``config/time_range.py``); a bad option is
  one line and exit 2.

Times in tables are in ``llmgate.time_zone``; money as ``store/money.py`` writes it for people.
Names clients chose are escaped for the terminal (``log_record.safe_text``, rich markup).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import orjson
import typer

from llmgate.cli.common import ConfigOption, RangeSince, RangeUntil, fail, read_range, store_and_zone
from llmgate.cli.log_record import safe_text
from llmgate.store.money import usd

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmgate.reports.sessions import Node

sessions_app = typer.Typer(
    help="Agent and conversation sessions: the calls a client grouped with x-llmgate-session-id.",
    no_args_is_help=True,
)


class ListFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@sessions_app.command("list", help="One line per session with calls in the range, latest first.")
def list_command(
    config: ConfigOption = None,
    since: RangeSince = None,
    until: RangeUntil = None,
    user: Annotated[str | None, typer.Option(help="Only sessions with a call by this end user.")] = None,
    model: Annotated[str | None, typer.Option(help="Only sessions with a call to this model alias.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many sessions.")] = 50,
    format: Annotated[ListFormat, typer.Option("--format", help="table, csv or json.")] = ListFormat.table,
) -> None:
    # SQLAlchemy (the store) and the reports: off `llmgate sessions --help`
    from llmgate.reports.sessions import sessions_csv, sessions_json
    from llmgate.store.call_sessions import SessionFilter, list_sessions

    with store_and_zone(config, read_only=True) as (engine, tz):
        start, end = read_range(since, until, tz)
        rows = list_sessions(engine, SessionFilter(start, end, user, model), limit=limit)
    if format is ListFormat.json:
        typer.echo(orjson.dumps(sessions_json(rows), option=orjson.OPT_INDENT_2).decode())
    elif format is ListFormat.csv:
        sys.stdout.write(sessions_csv(rows))
    else:
        _print_list(rows, tz)


def show_session(engine: Engine, session_id: str, tz: str, as_json: bool) -> None:
    """``llmgate logs --session ID``: the session's calls as a tree, or its JSON."""
    # SQLAlchemy (the store) and the reports: off `llmgate logs --help`
    from llmgate.reports.sessions import session_json, session_totals, session_tree
    from llmgate.store.call_sessions import session_calls

    calls = session_calls(engine, session_id)
    if not calls:
        fail(f"no recorded calls in session {session_id[:128]!r}")
    if as_json:
        typer.echo(orjson.dumps(session_json(session_id, calls), option=orjson.OPT_INDENT_2).decode())
        return
    _print_tree(session_id, session_tree(calls), session_totals(calls), tz)


def _console() -> Any:
    # rich: off `llmgate sessions --help`
    from rich.console import Console

    # piped output (scripts, CI logs) gets full rows instead of an 80-column squeeze
    return Console(width=None if sys.stdout.isatty() else 240)


def _text(value: Any) -> str:
    from rich.markup import escape  # rich: off `--help`

    return escape(safe_text(str(value))) if value not in (None, "") else "-"


def _cost(value: Decimal | None, unknown: int | bool) -> str:
    if value is None:
        return "?" if unknown else "-"
    return usd(value) + (" +?" if unknown else "")


def _tokens(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _walk(roots: list[Node]) -> Iterator[tuple[str, Node]]:
    """Each node with its tree prefix (``├─ ``, ``└─ ``, ``│  ``), parents first; iterative, so a
    long chain of calls never reaches Python's recursion limit."""
    stack: list[tuple[Node, str, str]] = [(node, "", "") for node in reversed(roots)]
    seen: set[int] = set()
    while stack:
        node, label, below = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield label, node
        children = sorted(node.children, key=lambda n: (n.call["created_at"], n.call["id"]))
        for i, child in reversed(list(enumerate(children))):
            last = i == len(children) - 1
            stack.append((child, below + ("└─ " if last else "├─ "), below + ("   " if last else "│  ")))


def _print_tree(session_id: str, roots: list[Node], totals: dict[str, Any], tz: str) -> None:
    from rich.table import Table  # rich: off `--help`

    zone = ZoneInfo(tz)
    table = Table(box=None, header_style="bold")
    numeric = ("in", "out", "cost $", "latency ms")
    for column in ("step", "id", f"time ({tz})", "model", "status", *numeric):
        table.add_column(column, justify="right" if column in numeric else "left", no_wrap=column == "step")
    for prefix, node in _walk(roots):
        call = node.call
        estimated = "~" if call.get("tokens_estimated") else ""
        status = (
            "success"
            if call["status"] == "success"
            else f"[red]{call['status_code']} {_text(call.get('error_type') or '')}[/]"
        )
        table.add_row(
            prefix + _text(call.get("step")),
            call["id"][:12],
            call["created_at"].astimezone(zone).strftime("%H:%M:%S.%f")[:-3],
            _text(call.get("model")),
            status,
            f"{estimated}{_tokens(call.get('prompt_tokens'))}",
            f"{estimated}{_tokens(call.get('completion_tokens'))}",
            _cost(call.get("cost_usd"), bool(call.get("cost_unknown"))),
            f"{call['latency_ms']:.1f}",
        )
    errors = f"{totals['errors']} errors" if totals["errors"] else "no errors"
    table.add_row(
        "[bold]total[/]",
        "",
        "",
        "",
        f"{totals['calls']} calls, {errors}",
        _tokens(totals["prompt_tokens"]),
        _tokens(totals["completion_tokens"]),
        _cost(totals["cost_usd"], totals["cost_unknown"]),
        f"{totals['latency_ms']:.1f}",
    )
    console = _console()
    first, last = totals["first_at"].astimezone(zone), totals["last_at"].astimezone(zone)
    console.print(
        f"session {_text(session_id)}: {first:%Y-%m-%d %H:%M:%S} to {last:%H:%M:%S} {tz}, "
        f"{totals['wall_ms']:.1f} ms from the first call to the end of the last",
        highlight=False,
    )
    console.print(table)


def _print_list(rows: list[dict[str, Any]], tz: str) -> None:
    from rich.table import Table  # rich: off `--help`

    console = _console()
    if not rows:
        console.print("no sessions match")
        return
    zone = ZoneInfo(tz)
    table = Table(box=None, header_style="bold")
    numeric = ("calls", "errors", "in", "out", "cost $")
    for column in ("session", f"first ({tz})", "last", "users", "models", *numeric):
        table.add_column(column, justify="right" if column in numeric else "left")
    for row in rows:
        table.add_row(
            _text(row["session_id"]),
            row["first_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            row["last_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            _text(", ".join(row["users"])),
            _text(", ".join(row["models"])),
            str(row["calls"]),
            str(row["errors"]),
            _tokens(row["prompt_tokens"]),
            _tokens(row["completion_tokens"]),
            _cost(row["cost_usd"], row["cost_unknown"] or 0),
        )
    console.print(table)
