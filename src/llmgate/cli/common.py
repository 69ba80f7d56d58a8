"""What the CLI commands share: the ``--config`` option, the store, time ranges, output formats, errors."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from llmgate.errors import InvalidRequest

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmgate.config import GatewayConfig
    from llmgate.errors import InvalidRequest

ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", envvar="LLMGATE_CONFIG", help="Config file (or set LLMGATE_CONFIG)."),
]
#: ``--since`` / ``--until`` of a command that lists recorded things (read by ``read_range``)
RangeSince = Annotated[
    str | None,
    typer.Option(help="From 30m, 2h, 7d ago, a date (midnight in llmgate.time_zone) or an ISO datetime."),
]
RangeUntil = Annotated[str | None, typer.Option(help="Up to (not including) this time, read as --since.")]


_VALUE_ERROR = re.compile(r"\bValue error, ")  # pydantic's prefix, from typer's coercion of options
_NOT_ONE_OF = re.compile(r"(.*) is not one of ('.*?'(?:, '.*?')*)\.?$")


def fail(message: str, *, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)


def usage_text(exc: typer.TyperException) -> str:
    """A usage error in plain words, on one line: "invalid value for '--format': 'xlsx' is not one
    of: table, csv, json (see 'llmgate report spend --help')"."""
    message = _VALUE_ERROR.sub("", exc.format_message()).strip()
    choices = _NOT_ONE_OF.match(message)
    if choices:
        message = f"{choices.group(1)} is not one of: {choices.group(2).replace(chr(39), '')}"
    message = message[:1].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    return f"{message} (see '{ctx.command_path} --help')" if ctx is not None else message


def config_from(path: str | None, *, for_store_only: bool = False) -> GatewayConfig:
    # the config schema is imported here, not at the top: it costs more than all of --help
    from llmgate.config import load_config

    if not path:
        fail("no config file: pass --config FILE or set LLMGATE_CONFIG", code=2)
    return load_config(path, for_store_only=for_store_only)


def missing_store(url: str) -> str | None:
    """Why ``url`` holds nothing yet (an SQLite file that does not exist), or ``None``."""
    # SQLAlchemy (the store): off `llmgate --help`
    from llmgate.store.db import sqlite_file

    path = sqlite_file(url)
    if path is None or path.exists():
        return None
    return f"no store at {path.resolve()} (nothing has run here; --config FILE names a project's store)"


def readable_store(url: str) -> str:
    """``url``, or an empty store in memory when it names an SQLite file that does not exist, said
    on stderr: a command that only reads never creates a store (a mistyped path made one, and
    read as an empty store without a word); its output stays what an empty store gives."""
    missing = missing_store(url)
    if missing is None:
        return url
    typer.echo(f"note: {missing}", err=True)
    return "sqlite://"


@contextmanager
def store_and_zone(path: str | None, *, read_only: bool = False) -> Iterator[tuple[Engine, str]]:
    """The store the config at ``path`` names (provider secrets need not be set), closed after
    use, and its ``llmgate.time_zone``; ``read_only``: one that exists already."""
    # SQLAlchemy (the store): off `llmgate --help`
    from llmgate.store.db import create_engine_for

    cfg = config_from(path, for_store_only=True)
    assert cfg.llmgate.database_url is not None
    url = readable_store(cfg.llmgate.database_url) if read_only else cfg.llmgate.database_url
    engine = create_engine_for(url)
    if url != cfg.llmgate.database_url:  # the empty store in memory gets its schema
        # alembic: only for a store that is not there
        from llmgate.store.migrate import upgrade

        upgrade(engine)
    try:
        yield engine, cfg.llmgate.time_zone
    finally:
        engine.dispose()


@contextmanager
def store_engine(path: str | None) -> Iterator[Engine]:
    """The store the config at ``path`` names (provider secrets need not be set), closed after use."""
    with store_and_zone(path) as (engine, _):
        yield engine


def zone_of(path: str | None) -> str:
    """``llmgate.time_zone`` of the config at ``path`` (UTC without a config)."""
    return config_from(path, for_store_only=True).llmgate.time_zone if path else "UTC"


def read_range(
    since: str | None,
    until: str | None,
    tz: str,
    *,
    default_since: datetime | None = None,
    default_until: datetime | None = None,
    since_required: bool = False,
) -> tuple[datetime | None, datetime | None]:
    """``--since`` / ``--until`` as ``config.time_range`` reads them; a bad one is one line, exit 2."""
    # the config package is imported here, not at the top: it costs more than all of --help
    from llmgate.config.time_range import parse_range

    try:
        return parse_range(
            since,
            until,
            tz,
            default_since=default_since,
            default_until=default_until,
            since_required=since_required,
        )
    except InvalidRequest as exc:
        option_error(exc)


def read_moment(value: str, tz: str, param: str) -> datetime:
    """One time option (``--as-of``) as ``config.time_range`` reads it; a bad one is one line, exit 2."""
    # the config package is imported here, not at the top: it costs more than all of --help
    from llmgate.config.time_range import parse_moment

    try:
        return parse_moment(value, tz, param=param)
    except InvalidRequest as exc:
        option_error(exc)


def option_error(exc: InvalidRequest) -> NoReturn:
    """A bad option as one line and exit 2, naming it as typed (``--group-by``, not ``group_by``)."""
    message, param = exc.message, exc.param
    if param and message.startswith(f"{param}:"):
        message = f"--{param.replace('_', '-')}{message[len(param) :]}"
    fail(message, code=2)
