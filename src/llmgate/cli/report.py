"""``llmgate report spend|budgets|pricing-gaps|ops``: what finance and operations ask, from the store.

Thin callers of ``llmgate.reports`` (the sums and their formats) and ``llmgate.store.spend``
(pricing gaps); dates and calendar groups are local to ``llmgate.time_zone`` in the config.
``--format csv`` and ``json`` print costs as exact decimal strings; the tables show money for people
(``llmgate.store.money.usd``: at least cents, and the places a small amount needs).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from llmgate.cli.common import (
    ConfigOption,
    config_from,
    option_error,
    read_moment,
    read_range,
    readable_store,
)
from llmgate.errors import InvalidRequest, StoreError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmgate.config.schema import LlmgateSettings

app = typer.Typer(no_args_is_help=True)


class SpendFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class TableFormat(StrEnum):
    table = "table"
    json = "json"


SinceOption = Annotated[
    str | None,
    typer.Option(
        help="From this local date (2026-11-01, midnight in llmgate.time_zone), datetime "
        "(2026-11-01T09:00, in llmgate.time_zone unless it has an offset) or 7d ago. "
        "Default: start of this month."
    ),
]
UntilOption = Annotated[
    str | None, typer.Option(help="Up to (not including) this date or datetime, as --since. Default: now.")
]


@contextmanager
def _store(path: str | None) -> Iterator[tuple[Engine, LlmgateSettings]]:
    """The config's store and the config's ``llmgate:`` settings.

    A store nothing has written to yet reports zeros rather than errors: an SQLite file that does
    not exist is read as an empty store in memory (``readable_store``: never created, and said on
    stderr, so a mistyped path shows), one with no tables gets its schema first; otherwise
    migrating is left to ``serve`` and ``db upgrade`` (alembic takes a while to
    load, and a report reads only what every revision has).
    """
    # SQLAlchemy (the store): off `llmgate report --help`
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError

    from llmgate.store.db import create_engine_for, describe_error

    cfg = config_from(path, for_store_only=True)
    assert cfg.llmgate.database_url is not None
    engine = create_engine_for(readable_store(cfg.llmgate.database_url))  # never creates one
    try:
        try:
            fresh = not sa.inspect(engine).has_table("requests")
        except (SQLAlchemyError, OSError) as exc:  # a dead store: one line, not a trace
            raise StoreError(f"store read failed: {describe_error(exc)}") from exc
        if fresh:
            # SQLAlchemy (the store): off `llmgate report --help`
            from llmgate.store.migrate import upgrade

            upgrade(engine)
        yield engine, cfg.llmgate
    finally:
        engine.dispose()


def _echo_json(data: Any) -> None:

    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _print_table(headers: list[str], rows: list[list[str]], total: list[str] | None, *, right: int) -> None:
    # rich: off `llmgate report --help`
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for index, header in enumerate(headers):
        table.add_column(header, justify="right" if index >= len(headers) - right else "left")
    for row in rows:
        table.add_row(*row)
    if total is not None:
        if rows:
            table.rows[-1].end_section = True
        table.add_row(*total, style="bold")
    # Piped output (scripts, CI logs) gets full rows instead of an 80-column squeeze.
    Console(width=None if sys.stdout.isatty() else 240).print(table)


@app.command("spend", help="Requests, tokens, cost and what the cache saved per group, with totals.")
def spend(
    config: ConfigOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            help="Comma-separated: team, key, user, model, provider, endpoint, day, week, month, "
            "feedback (the users' rating: good, bad, unrated), tag:NAME.",
        ),
    ] = None,
    format: Annotated[SpendFormat, typer.Option("--format", help="table, csv or json.")] = SpendFormat.table,
) -> None:
    # SQLAlchemy (the store): off `llmgate report --help`
    from llmgate.reports import spend as reports

    with _store(config) as (engine, settings):
        tz = settings.time_zone
        start, end = read_range(since, until, tz, default_since=reports.month_start(tz))
        assert start is not None
        try:
            report = reports.spend_report(
                engine, since=start, until=end, group_by=reports.parse_group_by(group_by), tz=tz
            )
        except InvalidRequest as exc:
            option_error(exc)
    if format is SpendFormat.json:
        _echo_json(reports.to_json(report))
    elif format is SpendFormat.csv:
        typer.echo(reports.to_csv(report), nl=False)
    else:
        headers, rows, total = reports.table(report)
        _print_table(headers, rows, total, right=len(reports.METRICS))


@app.command("budgets", help="Each key and team with a budget: spend this period and forecast.")
def budgets(
    config: ConfigOption = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Report as of this time (2026-11-15T12:00 is wall-clock time in llmgate.time_zone "
            "unless it has an offset; a bare date is its midnight there). Default: now.",
        ),
    ] = None,
    format: Annotated[TableFormat, typer.Option("--format", help="table or json.")] = TableFormat.table,
) -> None:
    # SQLAlchemy (the store): off `llmgate report --help`
    from llmgate.reports import budgets as reports

    with _store(config) as (engine, settings):
        tz, user = settings.time_zone, settings.user_budget_usd
        now = read_moment(as_of, tz, "as_of") if as_of else datetime.now(UTC)
        lines = reports.budget_report(
            engine,
            now=now,
            tz=tz,
            user_budget=(user, settings.user_budget_period) if user is not None else None,
        )
    if format is TableFormat.json:
        _echo_json(reports.to_json(lines, now=now, tz=tz))
        return
    if not lines:
        typer.echo("no key or team has a budget")
        return
    headers, rows = reports.table(lines)
    _print_table(headers, rows, None, right=5)


@app.command("pricing-gaps", help="Requests recorded without a known price, per model and deployment.")
def pricing_gaps(
    config: ConfigOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    format: Annotated[TableFormat, typer.Option("--format", help="table or json.")] = TableFormat.table,
) -> None:
    # SQLAlchemy (the store): off `llmgate report --help`
    from llmgate.reports.spend import gaps_to_json
    from llmgate.reports.spend import pricing_gaps as gaps_in

    with _store(config) as (engine, settings):
        start, end = read_range(since, until, settings.time_zone)
        gaps = gaps_in(engine, since=start, until=end)
    if format is TableFormat.json:
        _echo_json(gaps_to_json(gaps))
        return
    if not gaps:
        typer.echo("no requests without a price")
        return
    rows = [
        [
            gap.model,
            gap.deployment or "-",
            gap.provider or "-",
            f"{gap.requests:,}",
            gap.first_seen.strftime("%Y-%m-%d %H:%M:%S"),
            gap.last_seen.strftime("%Y-%m-%d %H:%M:%S"),
        ]
        for gap in gaps
    ]
    headers = ["model", "deployment", "provider", "requests", "first seen (UTC)", "last seen (UTC)"]
    _print_table(headers, rows, None, right=3)


class OpsFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command(
    "ops",
    help="Alerts' mean time to detect and resolve, availability, fallbacks and retries, canaries, "
    "monitoring coverage.",
)
def ops(
    since: Annotated[
        str,
        typer.Option(
            help="From this local date (2026-11-01, midnight in llmgate.time_zone), datetime "
            "(2026-11-01T09:00, in llmgate.time_zone unless it has an offset) or 7d ago."
        ),
    ],
    config: ConfigOption = None,
    until: UntilOption = None,
    format: Annotated[OpsFormat, typer.Option("--format", help="table, csv or json.")] = OpsFormat.table,
) -> None:
    # SQLAlchemy (the store): off `llmgate report --help`
    from llmgate.reports import ops as reports
    from llmgate.reports import ops_formats as formats

    with _store(config) as (engine, settings):
        start, end = read_range(since, until, settings.time_zone, since_required=True)
        assert start is not None  # required: read_range refused an empty --since
        report = reports.ops_report(engine, since=start, until=end, tz=settings.time_zone)
    if format is OpsFormat.json:
        _echo_json(reports.to_json(report))
    elif format is OpsFormat.csv:
        typer.echo(formats.to_csv(report), nl=False)
    else:
        for title, headers, rows, right, note in formats.tables(report):
            typer.echo(f"\n{title}")
            if rows:
                _print_table(headers, rows, None, right=right)
            else:
                typer.echo("  none in this range")
            if note:
                typer.echo(f"  {note}")
