"""``llmgate db``: bring the store's schema up to date, say where it stands, or prune it
(``llmgate db prune``: what ``llmgate.retention`` no longer keeps, ``store/prune.py``)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from llmgate.cli.common import ConfigOption, config_from, fail, read_range, store_engine
from llmgate.config.time_range import duration_text

app = typer.Typer(no_args_is_help=True)


@app.command("upgrade", help="Apply pending schema migrations (serve does this at start too).")
def upgrade_cmd(config: ConfigOption = None) -> None:
    # SQLAlchemy (the store): off `llmgate db --help`
    from llmgate.store.migrate import current_revision, upgrade

    with store_engine(config) as engine:
        upgrade(engine)
        typer.echo(f"store at revision {current_revision(engine)}")


@app.command("status", help="Show the store's schema revision against the newest one.")
def status_cmd(config: ConfigOption = None) -> None:
    # SQLAlchemy (the store): off `llmgate db --help`
    from llmgate.store.migrate import current_revision, head_revision

    with store_engine(config) as engine:
        current, head = current_revision(engine), head_revision()
    state = "up to date" if current == head else "needs `llmgate db upgrade`"
    typer.echo(f"current {current or 'none'}, newest {head}: {state}")


@app.command("prune", help="Delete what llmgate.retention no longer keeps (serve does this every interval).")
def prune_cmd(
    config: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would go.")] = False,
) -> None:
    # SQLAlchemy (the store): off `llmgate db --help`
    from sqlalchemy.exc import SQLAlchemyError

    from llmgate.store.db import describe_error
    from llmgate.store.prune import prune

    retention = config_from(config, for_store_only=True).llmgate.retention
    if not retention.prunes:
        typer.echo(retention.start_line())
        typer.echo("nothing to prune: set llmgate.retention (see the README's Retention section)")
        return
    started = time.perf_counter()
    with store_engine(config) as engine:
        try:
            results = prune(engine, retention, dry_run=dry_run)
        except (SQLAlchemyError, OSError) as exc:  # the store refused: one line, not a trace
            fail(f"prune stopped: {describe_error(exc)}")
    for result in results:
        typer.echo(result.line(dry_run=dry_run))
    total = sum(r.count for r in results)
    done = "would go (dry run: nothing changed)" if dry_run else "done"
    typer.echo(f"{total:,} rows and bodies {done} in {duration_text(time.perf_counter() - started)}")


@app.command("rollup", help="Rebuild the hourly and daily rollups from the recorded requests.")
def rollup_cmd(
    config: ConfigOption = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Sum the raw rows again (required).")] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="From this local date (2026-11-01, midnight in llmgate.time_zone), datetime or 30d ago "
            "(its hour). Default: every recorded request."
        ),
    ] = None,
) -> None:
    # SQLAlchemy (the store): off `llmgate db --help`
    from sqlalchemy.exc import SQLAlchemyError

    from llmgate.store.db import describe_error
    from llmgate.store.migrate import upgrade
    from llmgate.store.rollups import EVERYTHING, rebuild_rollups, use_day_zone

    if not rebuild:
        fail("nothing to do: say --rebuild (and --since to rebuild only from then)")
    tz = config_from(config, for_store_only=True).llmgate.time_zone
    start, _ = read_range(since, None, tz, default_since=EVERYTHING)
    with store_engine(config) as engine:
        try:
            upgrade(engine)
            use_day_zone(engine, tz)
            result = rebuild_rollups(engine, start or EVERYTHING)
        except (SQLAlchemyError, OSError) as exc:  # the store refused: one line, not a trace
            fail(f"rollup rebuild stopped: {describe_error(exc)}")
    typer.echo(
        f"rebuilt the rollups from {result.since:%Y-%m-%d %H:%M} UTC: {result.rows:,} requests into "
        f"{result.hour_groups:,} hourly and {result.day_groups:,} daily groups "
        f"in {duration_text(result.seconds)}"
    )
