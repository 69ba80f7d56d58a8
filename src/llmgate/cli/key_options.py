"""What ``llmgate keys``, ``llmgate teams`` and ``llmgate audit`` share: their options and output.

Options are parsed into typed values here (text that is no number, date or list of pairs ends as
one line and exit code 2); what the values may be is ``auth/key_fields.py``'s to say, for the CLI
as for the admin API. Rows are printed as a table or JSON; a key's prefix only, never the key or
its hash (``show_key`` prints a new or rotated key once). Split out of ``cli/keys.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from llmgate.auth import key_fields
from llmgate.auth.key_fields import cache_setting, plain
from llmgate.cli.common import fail
from llmgate.errors import InvalidRequest
from llmgate.store.money import usd

if TYPE_CHECKING:
    from llmgate.store.keys import KeyRow, TeamRow

#: every KeyRow field but key_hash
KEY_FIELDS: tuple[str, ...] = ("id", "alias", "key_prefix", "team_id", "user_id", "models", "budget_usd")
KEY_FIELDS += ("budget_period", "rpm", "tpm", "tags", "expires_at", "revoked_at", "created_at", "updated_at")
KEY_FIELDS += ("admin",)
TEAM_FIELDS = ("models", "budget_usd", "budget_period", "rpm", "tpm", "tags", "created_at", "updated_at")
TEAM_CLEARABLE = ("models", "budget", "budget-period", "rpm", "tpm", "tags", "cache")
KEY_CLEARABLE = ("team", "user", *TEAM_CLEARABLE, "expires")


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
Cache = Annotated[
    str | None,
    typer.Option(
        metavar="on|off|semantic",
        help="off: no response cache; semantic: opted into the semantic cache; on: as the config says.",
    ),
]
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


# --- parsing options: text that is no value is one line and exit code 2 -------------------------
# (what a value may be, e.g. a budget of at least 0, is ``auth/key_fields.py``'s rule: ``checked``)


def _as_is(option: str, value: str) -> str:
    return value.strip()


def _models(option: str, value: str) -> list[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


def _budget(option: str, value: str) -> Decimal:
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        fail(f"{option}: expected an amount in USD such as 25 or 12.50, got {value!r}", code=2)


def _count(option: str, value: str) -> int:
    if not value.strip().isdigit():
        fail(f"{option}: expected a whole number of at least 1, got {value!r}", code=2)
    return int(value)


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
    "alias": ("alias", _as_is),
    "team": ("team_id", _as_is),
    "user": ("user_id", _as_is),
    "models": ("models", _models),
    "budget": ("budget_usd", _budget),
    "budget_period": ("budget_period", _as_is),
    "rpm": ("rpm", _count),
    "tpm": ("tpm", _count),
    "tags": ("tags", _tags),
    "expires": ("expires_at", _expires),
    "cache": ("cache", _as_is),
}
#: a store field -> the option that sets it, as refusals name it
OPTION_OF = {field: "--" + name.replace("_", "-") for name, (field, _) in OPTIONS.items()}


def given(params: dict[str, Any]) -> dict[str, Any]:
    """The store fields set by the options a command was given (``params``: its ``locals()``)."""
    given = {
        field: parse("--" + name.replace("_", "-"), params[name])
        for name, (field, parse) in OPTIONS.items()
        if params.get(name) is not None
    }
    if params.get("admin") is not None:  # a flag, not text: --admin, or --admin/--no-admin
        given["admin"] = params["admin"]
    return given


def changes(params: dict[str, Any], clearable: tuple[str, ...]) -> dict[str, Any]:
    """``given`` plus the fields ``--clear`` (and ``--no-budget``) empty; at least one."""
    fields = given(params)
    for name in [*(params["clear"] or []), *(["budget"] if params["no_budget"] else [])]:
        if name not in clearable:
            fail(f"--clear: expected one of {', '.join(clearable)}, got {name!r}", code=2)
        field = OPTIONS[name.replace("-", "_")][0]
        if field in fields:
            fail(f"--clear {name} contradicts the value given for it", code=2)
        fields[field] = None
    if not fields:
        fail("nothing to change: give at least one option (see --help)", code=2)
    return fields


def checked(fields: dict[str, Any], *, key: bool, new: bool = False) -> dict[str, Any]:
    """``fields`` checked by the rules the admin API applies too (``auth/key_fields.py``),
    before the store is opened; a refusal is the rule's message, naming the option, and exit code 2.
    ``key``: a key's fields (else a team's, whose ``alias`` is its name); ``new``: it is created."""
    try:
        if key:
            values = key_fields.check_fields(fields, key_fields.KEY_FIELDS)
            if new:
                key_fields.check_new_expiry(values.get("expires_at"))
        else:
            if "alias" in fields:
                key_fields.text("alias", key_fields.no_nul("alias", fields["alias"]))
            key_fields.check_fields({k: v for k, v in fields.items() if k != "alias"}, key_fields.TEAM_FIELDS)
    except InvalidRequest as exc:
        field = exc.param or ""
        fail(f"{OPTION_OF.get(field, field)}{exc.message.removeprefix(field)}", code=2)
    return fields


# --- output ---------------------------------------------------------------


def status(row: KeyRow) -> str:
    if row.revoked_at is not None:
        return "revoked"
    return "active" if row.usable_at(datetime.now(UTC)) else "expired"


def key_json(row: KeyRow) -> dict[str, Any]:
    return {name: plain(getattr(row, name)) for name in KEY_FIELDS} | {
        "cache": cache_setting(row.metadata),
        "status": status(row),
    }


def team_json(row: TeamRow) -> dict[str, Any]:
    fields = {name: plain(getattr(row, name)) for name in TEAM_FIELDS}
    return {"id": row.id, "alias": row.id} | fields | {"cache": cache_setting(row.metadata)}


def echo_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def cell_text(value: Any) -> str:
    if value is None or value == {}:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def print_table(columns: list[str], rows: list[list[Any]]) -> None:
    # rich: off `llmgate keys --help` and the JSON output
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(cell_text(v) for v in row))
    # Piped output (scripts, CI logs) gets full rows instead of an 80-column squeeze.
    console = Console(width=None if sys.stdout.isatty() else 240, highlight=False, markup=False, emoji=False)
    console.print(table)  # names and tags are shown as they are, never read as rich markup


def print_record(record: dict[str, Any]) -> None:
    print_table(["field", "value"], [[name, value] for name, value in record.items()])


def show_key(row: KeyRow, format: Format, headline: str | None = None, key: str | None = None) -> None:
    """A key as JSON or a headline and table; ``key`` (new or rotated) first and only this once."""
    if format is Format.json:
        echo_json(({"key": key} if key else {}) | key_json(row))
    elif key is not None:
        typer.echo(f"{headline} Store the key now: it is shown only this once.")
        typer.echo(key)
    else:
        if headline:
            typer.echo(headline)
        print_record(key_json(row))


def budget_text(amount: Decimal | None) -> str | None:
    """A budget in a table, as every money figure for people (``store.money.usd``)."""
    return usd(amount) if amount is not None else None
