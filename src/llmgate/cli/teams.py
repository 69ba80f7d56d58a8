"""``llmgate teams ...``: teams with their own models, budgets and limits (the team's name is its id).

A thin client of ``auth/key_admin.py`` and the store, as ``cli/keys.py`` is for keys: options read by
``cli/key_options.py``, changes audited as ``cli:<os user>``; ``--cache off`` denies every key of the
team the response cache (``semantic``: opts them into the semantic cache). Split out of ``cli/keys.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmgate.auth.key_fields import cache_setting
from llmgate.cli.common import ConfigOption
from llmgate.cli.key_options import (
    TEAM_CLEARABLE,
    Budget,
    Cache,
    Clear,
    Format,
    FormatOption,
    Models,
    NoBudget,
    Period,
    Rpm,
    Tags,
    Tpm,
    budget_text,
    changes,
    checked,
    echo_json,
    given,
    print_table,
    team_json,
)
from llmgate.cli.key_store import actor, key_store

if TYPE_CHECKING:
    from llmgate.store.keys import TeamRow

teams_app = typer.Typer(no_args_is_help=True)


def _show_teams(rows: list[TeamRow], format: Format, headline: str | None = None) -> None:
    """Teams as JSON (one object after a change) or a headline and table."""
    if format is Format.json:
        echo_json(team_json(rows[0]) if headline else [team_json(r) for r in rows])
        return
    if headline:
        typer.echo(headline)
    if not rows:
        typer.echo("no teams")
        return
    columns = ["team", "models", "budget", "period", "rpm", "tpm", "tags", "cache"]
    print_table(columns, [_team_line(r) for r in rows])


def _team_line(r: TeamRow) -> list[Any]:
    line = [r.id, r.models or "all", budget_text(r.budget_usd), r.budget_period, r.rpm, r.tpm, r.tags]
    return [*line, cache_setting(r.metadata)]


@teams_app.command("create", help="Create a team; its name is its id.")
def create_team(
    alias: Annotated[str, typer.Option("--alias", help="The team's unique name.")],
    models: Models = None,
    budget: Budget = None,
    budget_period: Period = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    tags: Tags = None,
    cache: Cache = None,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.auth.key_admin import create_team as create  # SQLAlchemy (the store): when run

    fields = checked(given(locals()), key=False)
    with key_store(config, fields, creates=True) as engine:
        row = create(engine, fields.pop("alias"), actor=actor(), **fields)
    _show_teams([row], format, f"Created team {row.id}.")


@teams_app.command("list", help="List teams with their budgets and limits.")
def list_teams(config: ConfigOption = None, format: FormatOption = Format.table) -> None:
    # SQLAlchemy (the store): off `llmgate teams --help`
    from llmgate.store.keys import load_teams

    with key_store(config) as engine:
        rows = load_teams(engine)
    _show_teams(rows, format)


@teams_app.command("update", help="Change a team's models, budget, limits, tags or cache.")
def update_team(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The team's name.")],
    models: Models = None,
    budget: Budget = None,
    budget_period: Period = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    tags: Tags = None,
    cache: Cache = None,
    clear: Clear = None,
    no_budget: NoBudget = False,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.auth.key_admin import update_team as update  # SQLAlchemy (the store): when run

    fields = checked(changes(locals(), TEAM_CLEARABLE), key=False)
    with key_store(config, fields) as engine:
        row = update(engine, name, actor=actor(), **fields)
    _show_teams([row], format, f"Updated team {row.id}.")
