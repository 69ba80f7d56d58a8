"""``llmgate db``: bring the store's schema up to date, or say where it stands."""

from __future__ import annotations

import typer

from llmgate.cli.common import ConfigOption, store_engine

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
