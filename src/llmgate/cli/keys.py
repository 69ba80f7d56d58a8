"""``llmgate keys ...``, ``llmgate teams ...`` and ``llmgate audit``: virtual keys, teams, the audit log.

A thin client of ``store/keys.py``: options are parsed into typed values here (a bad one ends as
one line and exit code 2), the store checks and writes them with their audit entry (its refusals,
such as an unknown team or a taken alias, end as one line and exit code 1), and the result is
printed as a table or JSON. A key is printed once, when it is created or rotated; lists and info
show its prefix only, never the key or its hash. Changes are audited as ``cli:<os user>``.
``--admin`` makes an admin key (the admin API and the dashboard, as the master key).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from llmgate.cli.common import ConfigOption, fail, read_range, zone_of
from llmgate.cli.key_store import actor, key_ref, key_store
from llmgate.store.money import usd

if TYPE_CHECKING:
    from llmgate.store.keys import KeyRow, TeamRow

keys_app = typer.Typer(no_args_is_help=True)
teams_app = typer.Typer(no_args_is_help=True)

PERIODS = ("daily", "weekly", "monthly")  # store/spend.py's, not imported: no SQLAlchemy at start-up
#: every KeyRow field but key_hash
KEY_FIELDS: tuple[str, ...] = ("id", "alias", "key_prefix", "team_id", "user_id", "models", "budget_usd")
KEY_FIELDS += ("budget_period", "rpm", "tpm", "tags", "expires_at", "revoked_at", "created_at", "updated_at")
KEY_FIELDS += ("admin",)
TEAM_FIELDS = ("models", "budget_usd", "budget_period", "rpm", "tpm", "tags", "created_at", "updated_at")
KEY_CLEARABLE = ("team", "user", "models", "budget", "budget-period", "rpm", "tpm", "tags", "expires")
TEAM_CLEARABLE = ("models", "budget", "budget-period", "rpm", "tpm", "tags")


class Format(StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="table or json.")]
Team = Annotated[str | None, typer.Option("--team", help="The key's team (it must exist).")]
User = Annotated[str | None, typer.Option("--user", help="The user the key belongs to.")]
Models = Annotated[str | None, typer.Option(metavar="A,B", help="Allowed model aliases (default: all).")]
Budget = Annotated[str | None, typer.Option(metavar="USD", help="Budget per period, in USD.")]
Period = Annotated[str | None, typer.Option(metavar="daily|weekly|monthly", help="Default: monthly.")]
Rpm = Annotated[str | None, typer.Option(metavar="N", help="Requests per minute.")]
Tpm = Annotated[str | None, typer.Option(metavar="N", help="Tokens per minute.")]
Expires = Annotated[
    str | None, typer.Option(metavar="DATE", help="2027-01-01 or 2027-01-01T12:00 (UTC if no offset).")
]
Tags = Annotated[str | None, typer.Option(metavar="K=V,...", help="Tags, e.g. cost_centre=cc-42,env=prod.")]
Clear = Annotated[
    list[str] | None, typer.Option(metavar="FIELD", help="Empty a field (repeatable), e.g. rpm.")
]
NoBudget = Annotated[bool, typer.Option("--no-budget", help="Remove the budget (as --clear budget).")]
AdminRole = Annotated[
    bool, typer.Option("--admin", help="An admin key: it may use the admin API and the dashboard.")
]
AdminChange = Annotated[
    bool | None,
    typer.Option("--admin/--no-admin", help="Give or take away the admin role (admin API, dashboard)."),
]


# --- parsing options: a bad value is one line and exit code 2 -------------------------------


def _name(option: str, value: str) -> str:
    if not value.strip():
        fail(f"{option}: must not be empty", code=2)
    return value.strip()


def _models(option: str, value: str) -> list[str]:
    models = [m.strip() for m in value.split(",") if m.strip()]
    if not models:
        fail(f"{option}: name at least one model, e.g. {option} gpt-4o-mini,claude-sonnet", code=2)
    return models


def _budget(option: str, value: str) -> Decimal:
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        fail(f"{option}: expected an amount in USD such as 25 or 12.50, got {value!r}", code=2)
    if not amount.is_finite() or amount < 0:
        fail(f"{option}: must be a finite amount of 0 or more, got {value!r}", code=2)
    return amount


def _count(option: str, value: str) -> int:
    if not value.strip().isdigit() or int(value) < 1:
        fail(f"{option}: expected a whole number of at least 1, got {value!r}", code=2)
    return int(value)


def _period(option: str, value: str) -> str:
    if value.strip() not in PERIODS:
        fail(f"{option}: expected one of {', '.join(PERIODS)}, got {value!r}", code=2)
    return value.strip()


def _tags(option: str, value: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, equals, text = item.partition("=")
        if not equals or not name.strip():
            fail(f"{option}: expected NAME=VALUE pairs separated by commas, got {item!r}", code=2)
        tags[name.strip()] = text.strip()
    return tags


def _expires(option: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option}: expected a date or a date and time such as 2027-01-01, got {value!r}", code=2)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


#: a command parameter -> the store field it sets and the parser of its text
OPTIONS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "alias": ("alias", _name),
    "team": ("team_id", _name),
    "user": ("user_id", _name),
    "models": ("models", _models),
    "budget": ("budget_usd", _budget),
    "budget_period": ("budget_period", _period),
    "rpm": ("rpm", _count),
    "tpm": ("tpm", _count),
    "tags": ("tags", _tags),
    "expires": ("expires_at", _expires),
}


def _given(params: dict[str, Any]) -> dict[str, Any]:
    """The store fields set by the options a command was given (``params``: its ``locals()``)."""
    given = {
        field: parse("--" + name.replace("_", "-"), params[name])
        for name, (field, parse) in OPTIONS.items()
        if params.get(name) is not None
    }
    if params.get("admin") is not None:  # a flag, not text: --admin, or --admin/--no-admin
        given["admin"] = params["admin"]
    return given


def _changes(params: dict[str, Any], clearable: tuple[str, ...]) -> dict[str, Any]:
    """``_given`` plus the fields ``--clear`` (and ``--no-budget``) empty; at least one."""
    given = _given(params)
    for name in [*(params["clear"] or []), *(["budget"] if params["no_budget"] else [])]:
        if name not in clearable:
            fail(f"--clear: expected one of {', '.join(clearable)}, got {name!r}", code=2)
        field = OPTIONS[name.replace("-", "_")][0]
        if field in given:
            fail(f"--clear {name} contradicts the value given for it", code=2)
        given[field] = None
    if not given:
        fail("nothing to change: give at least one option (see --help)", code=2)
    return given


# --- output ---------------------------------------------------------------


def _status(row: KeyRow) -> str:
    if row.revoked_at is not None:
        return "revoked"
    return "active" if row.usable_at(datetime.now(UTC)) else "expired"


def _key_json(row: KeyRow) -> dict[str, Any]:
    from llmgate.store.key_fields import plain

    return {name: plain(getattr(row, name)) for name in KEY_FIELDS} | {"status": _status(row)}


def _team_json(row: TeamRow) -> dict[str, Any]:
    from llmgate.store.key_fields import plain

    return {"id": row.id, "alias": row.id} | {name: plain(getattr(row, name)) for name in TEAM_FIELDS}


def _echo_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _text(value: Any) -> str:
    if value is None or value == {}:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _print_table(columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_text(v) for v in row))
    # Piped output (scripts, CI logs) gets full rows instead of an 80-column squeeze.
    console = Console(width=None if sys.stdout.isatty() else 240, highlight=False, markup=False, emoji=False)
    console.print(table)  # names and tags are shown as they are, never read as rich markup


def _print_record(record: dict[str, Any]) -> None:
    _print_table(["field", "value"], [[name, value] for name, value in record.items()])


def _show_key(row: KeyRow, format: Format, headline: str | None = None, key: str | None = None) -> None:
    """A key as JSON or a headline and table; ``key`` (new or rotated) first and only this once."""
    if format is Format.json:
        _echo_json(({"key": key} if key else {}) | _key_json(row))
    elif key is not None:
        typer.echo(f"{headline} Store the key now: it is shown only this once.")
        typer.echo(key)
    else:
        if headline:
            typer.echo(headline)
        _print_record(_key_json(row))


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
    admin: AdminRole = False,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.auth.keys import display_prefix, generate_key, generate_key_id, hash_key
    from llmgate.errors import InvalidRequest
    from llmgate.store.keys import check_new_expiry, create_key

    fields = _given(locals())
    try:
        check_new_expiry(fields.get("expires_at"))
    except InvalidRequest as exc:  # a bad option: one line, exit code 2
        fail(f"--expires{exc.message.removeprefix('expires_at')}", code=2)
    key = generate_key()
    with key_store(config, fields, creates=True) as engine:
        row = create_key(
            engine,
            key_hash=hash_key(key),
            key_prefix=display_prefix(key),
            actor=actor(),
            key_id=generate_key_id(),
            **fields,
        )
    _show_key(row, format, f"Created key {row.id} ({row.alias}).", key)


@keys_app.command("list", help="List keys (prefixes only), revoked and expired ones included.")
def list_keys(
    team: Annotated[str | None, typer.Option("--team", help="Only this team's keys.")] = None,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.store.keys import load_keys

    with key_store(config) as engine:
        rows = [r for r in load_keys(engine) if team is None or r.team_id == team]
    if format is Format.json:
        _echo_json([_key_json(r) for r in rows])
        return
    if not rows:
        typer.echo("no keys")
        return
    columns = ["id", "alias", "prefix", "team", "user", "models", "budget", "period", "rpm", "tpm"]
    _print_table([*columns, "expires (UTC)", "status", "admin"], [_key_line(r) for r in rows])


def _key_line(r: KeyRow) -> list[Any]:
    expires = f"{r.expires_at:%Y-%m-%d %H:%M}" if r.expires_at else None
    line: list[Any] = [r.id, r.alias, r.key_prefix + "…", r.team_id, r.user_id, r.models or "all"]
    line += [_budget_text(r.budget_usd), r.budget_period, r.rpm, r.tpm, expires, _status(r)]
    return [*line, "admin" if r.admin else None]


@keys_app.command("info", help="Show one key, by id, alias or the key itself.")
def info(
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key id, alias, or the key itself.")],
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.store.keys import get_key

    with key_store(config) as engine:
        row = get_key(engine, key_ref(engine, key))
    if row is None:
        fail(f"no key with id or alias {key!r}", code=1)
    _show_key(row, format)


@keys_app.command(
    "update", help="Change a key's alias, team, user, models, budget, limits, expiry, tags or admin role."
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
    clear: Clear = None,
    no_budget: NoBudget = False,
    admin: AdminChange = None,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.store.keys import update_key

    fields = _changes(locals(), KEY_CLEARABLE)
    with key_store(config, fields) as engine:
        row = update_key(engine, key_ref(engine, key), actor=actor(), **fields)
    _show_key(row, format, f"Updated key {row.id} ({row.alias}).")


@keys_app.command("revoke", help="Revoke a key: it is refused at once, on every replica.")
def revoke(
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key id, alias, or the key itself.")],
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.store.keys import revoke_key

    with key_store(config) as engine:
        row = revoke_key(engine, key_ref(engine, key), actor())
    _show_key(row, format, f"Key {row.id} ({row.alias}) is revoked: it no longer works.")


@keys_app.command("rotate", help="Give a key a new secret; the old one stops working at once.")
def rotate(
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key id, alias, or the key itself.")],
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.auth.keys import display_prefix, generate_key, hash_key
    from llmgate.store.keys import rotate_key

    new_key = generate_key()
    with key_store(config) as engine:
        row = rotate_key(engine, key_ref(engine, key), hash_key(new_key), display_prefix(new_key), actor())
    _show_key(row, format, f"Rotated key {row.id} ({row.alias}): the previous key no longer works.", new_key)


# --- llmgate teams ------------------------------------------------------------------------------


def _show_teams(rows: list[TeamRow], format: Format, headline: str | None = None) -> None:
    """Teams as JSON (one object after a change) or a headline and table."""
    if format is Format.json:
        _echo_json(_team_json(rows[0]) if headline else [_team_json(r) for r in rows])
        return
    if headline:
        typer.echo(headline)
    if not rows:
        typer.echo("no teams")
        return
    _print_table(["team", "models", "budget", "period", "rpm", "tpm", "tags"], [_team_line(r) for r in rows])


def _team_line(r: TeamRow) -> list[Any]:
    return [r.id, r.models or "all", _budget_text(r.budget_usd), r.budget_period, r.rpm, r.tpm, r.tags]


def _budget_text(amount: Decimal | None) -> str | None:
    """A budget in a table, as every money figure for people (``store.money.usd``)."""
    return usd(amount) if amount is not None else None


@teams_app.command("create", help="Create a team; its name is its id.")
def create_team(
    alias: Annotated[str, typer.Option("--alias", help="The team's unique name.")],
    models: Models = None,
    budget: Budget = None,
    budget_period: Period = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    tags: Tags = None,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.store.keys import create_team as create

    fields = _given(locals())
    with key_store(config, fields, creates=True) as engine:
        row = create(engine, fields.pop("alias"), actor=actor(), **fields)
    _show_teams([row], format, f"Created team {row.id}.")


@teams_app.command("list", help="List teams with their budgets and limits.")
def list_teams(config: ConfigOption = None, format: FormatOption = Format.table) -> None:
    from llmgate.store.keys import load_teams

    with key_store(config) as engine:
        rows = load_teams(engine)
    _show_teams(rows, format)


@teams_app.command("update", help="Change a team's models, budget, limits or tags.")
def update_team(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The team's name.")],
    models: Models = None,
    budget: Budget = None,
    budget_period: Period = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    tags: Tags = None,
    clear: Clear = None,
    no_budget: NoBudget = False,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    from llmgate.store.keys import update_team as update

    fields = _changes(locals(), TEAM_CLEARABLE)
    with key_store(config, fields) as engine:
        row = update(engine, name, actor=actor(), **fields)
    _show_teams([row], format, f"Updated team {row.id}.")


# --- llmgate audit ------------------------------------------------------------------------------


def _change_text(changes: dict[str, list[Any]]) -> str:
    return "; ".join(f"{field}: {_text(old)} → {_text(new)}" for field, (old, new) in changes.items())


def audit(
    since: Annotated[
        str | None,
        typer.Option(help="30m, 2h, 7d ago, a date (midnight in llmgate.time_zone) or an ISO datetime."),
    ] = None,
    target: Annotated[str | None, typer.Option(help="Only entries about this key id or team.")] = None,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Every admin action on keys and teams, oldest first: who, when, what changed."""
    from llmgate.store.keys import list_audit

    moment, _ = read_range(since, None, zone_of(config))
    with key_store(config) as engine:
        entries = list_audit(engine, moment, target=target)
    if format is Format.json:
        _echo_json([asdict(e) | {"at": e.at.isoformat()} for e in entries])
        return
    if not entries:
        typer.echo("no audit entries")
        return
    _print_table(
        ["time (UTC)", "actor", "action", "target", "changes"],
        [
            [e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.target, _change_text(e.changes)]
            for e in entries
        ],
    )
