"""``llmgate db``: bring the store's schema up to date, or say where it stands."""

from __future__ import annotations

import typer

from llmgate.cli.common import ConfigOption, config_from

app = typer.Typer(no_args_is_help=True)


@app.command("upgrade", help="Apply pending schema migrations (serve does this at start too).")
def upgrade_cmd(config: ConfigOption = None) -> None:
    from llmgate.store.db import create_engine_for
    from llmgate.store.migrate import current_revision, upgrade

    cfg = config_from(config, for_store_only=True)
    assert cfg.llmgate.database_url is not None
    engine = create_engine_for(cfg.llmgate.database_url)
    try:
        upgrade(engine)
        typer.echo(f"store at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@app.command("status", help="Show the store's schema revision against the newest one.")
def status_cmd(config: ConfigOption = None) -> None:
    from llmgate.store.db import create_engine_for
    from llmgate.store.migrate import current_revision, head_revision

    cfg = config_from(config, for_store_only=True)
    assert cfg.llmgate.database_url is not None
    engine = create_engine_for(cfg.llmgate.database_url)
    try:
        current, head = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    state = "up to date" if current == head else "needs `llmgate db upgrade`"
    typer.echo(f"current {current or 'none'}, newest {head}: {state}")
