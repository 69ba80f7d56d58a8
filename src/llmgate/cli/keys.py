"""``llmgate keys ...``: virtual keys, a thin client of ``auth/key_admin.py`` and the store.

Options are read by ``cli/key_options.py`` (a bad one ends as one line and exit code 2);
``auth/key_admin.py`` checks them and the store writes them with their audit entry (refusals such
as an unknown team or a taken alias end as one line and exit code 1). A key is printed once, when
it is created or rotated; lists and info show its prefix only, never the key or its hash. Changes
are audited as ``cli:<os user>``. ``--admin`` makes an admin key (the admin API and the dashboard,
as the master key); ``--cache off|semantic|on`` denies the key the response cache, opts it into the
semantic cache, or leaves it to the config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmgate.auth.key_fields import cache_setting
from llmgate.cli.common import ConfigOption, fail
from llmgate.cli.key_options import (
    KEY_CLEARABLE,
    AdminChange,
    AdminRole,
    Budget,
    Cache,
    Clear,
    Expires,
    Format,
    FormatOption,
    Models,
    NoBudget,
    Period,
    Rpm,
    Tags,
    Team,
    Tpm,
    User,
    budget_text,
    changes,
    checked,
    echo_json,
    given,
    key_json,
    print_table,
    show_key,
    status,
)
from llmgate.cli.key_store import actor, key_ref, key_store

if TYPE_CHECKING:
    from llmgate.store.keys import KeyRow

keys_app = typer.Typer(no_args_is_help=True)


# --- llmgate keys -------------------------------------------------------------------------------


@keys_app.command("create", help="Create a key; it is printed this once and stored only as a hash.")
def create(
    alias: Annotated[str, typer.Option("--alias", help="A unique name for the key.")],
    team: Team = None,
    user: User = None,
    models: Models = None,
    budget: Budget = None,
    budget_period: Period = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    expires: Expires = None,
    tags: Tags = None,
    cache: Cache = None,
    admin: AdminRole = False,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.auth.key_admin import issue_key  # SQLAlchemy (the store): only when a command runs

    fields = checked(given(locals()), key=True, new=True)
    with key_store(config, fields, creates=True) as engine:
        key, row = issue_key(engine, actor=actor(), **fields)
    show_key(row, format, f"Created key {row.id} ({row.alias}).", key)


@keys_app.command("list", help="List keys (prefixes only), revoked and expired ones included.")
def list_keys(
    team: Annotated[str | None, typer.Option("--team", help="Only this team's keys.")] = None,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    # SQLAlchemy (the store): off `llmgate keys --help`
    from llmgate.store.keys import load_keys

    with key_store(config) as engine:
        rows = [r for r in load_keys(engine) if team is None or r.team_id == team]
    if format is Format.json:
        echo_json([key_json(r) for r in rows])
        return
    if not rows:
        typer.echo("no keys")
        return
    columns = ["id", "alias", "prefix", "team", "user", "models", "budget", "period", "rpm", "tpm"]
    print_table([*columns, "expires (UTC)", "cache", "status", "admin"], [_key_line(r) for r in rows])


def _key_line(r: KeyRow) -> list[Any]:
    expires = f"{r.expires_at:%Y-%m-%d %H:%M}" if r.expires_at else None
    line: list[Any] = [r.id, r.alias, r.key_prefix + "…", r.team_id, r.user_id, r.models or "all"]
    line += [budget_text(r.budget_usd), r.budget_period, r.rpm, r.tpm, expires, cache_setting(r.metadata)]
    line.append(status(r))
    return [*line, "admin" if r.admin else None]


@keys_app.command("info", help="Show one key, by id, alias or the key itself.")
def info(
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key id, alias, or the key itself.")],
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    # SQLAlchemy (the store): off `llmgate keys --help`
    from llmgate.store.keys import get_key

    with key_store(config) as engine:
        row = get_key(engine, key_ref(engine, key))
    if row is None:
        fail(f"no key with id or alias {key!r}", code=1)
    show_key(row, format)


@keys_app.command(
    "update",
    help="Change a key's alias, team, user, models, budget, limits, expiry, tags, cache or admin role.",
)
def update(
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key id, alias, or the key itself.")],
    alias: Annotated[str | None, typer.Option("--alias", help="A new unique name.")] = None,
    team: Team = None,
    user: User = None,
    models: Models = None,
    budget: Budget = None,
    budget_period: Period = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    expires: Expires = None,
    tags: Tags = None,
    cache: Cache = None,
    clear: Clear = None,
    no_budget: NoBudget = False,
    admin: AdminChange = None,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.auth.key_admin import update_key  # SQLAlchemy (the store): only when a command runs

    fields = checked(changes(locals(), KEY_CLEARABLE), key=True)
    with key_store(config, fields) as engine:
        row = update_key(engine, key_ref(engine, key), actor=actor(), **fields)
    show_key(row, format, f"Updated key {row.id} ({row.alias}).")


@keys_app.command("revoke", help="Revoke a key: it is refused at once, on every replica.")
def revoke(
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key id, alias, or the key itself.")],
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.auth.key_admin import revoke_key  # SQLAlchemy (the store): only when a command runs

    with key_store(config) as engine:
        row = revoke_key(engine, key_ref(engine, key), actor=actor())
    show_key(row, format, f"Key {row.id} ({row.alias}) is revoked: it no longer works.")


@keys_app.command("rotate", help="Give a key a new secret; the old one stops working at once.")
def rotate(
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key id, alias, or the key itself.")],
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.auth.key_admin import rotate_key  # SQLAlchemy (the store): only when a command runs

    with key_store(config) as engine:
        new_key, row = rotate_key(engine, key_ref(engine, key), actor=actor())
    show_key(row, format, f"Rotated key {row.id} ({row.alias}): the previous key no longer works.", new_key)
