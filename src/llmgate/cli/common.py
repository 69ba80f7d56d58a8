"""What the CLI commands share: the ``--config`` option, the store, output formats, errors."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmgate.config import GatewayConfig

ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", envvar="LLMGATE_CONFIG", help="Config file (or set LLMGATE_CONFIG)."),
]

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


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


@contextmanager
def store_engine(path: str | None) -> Iterator[Engine]:
    """The store the config at ``path`` names (provider secrets need not be set), closed after use."""
    from llmgate.store.db import create_engine_for

    cfg = config_from(path, for_store_only=True)
    assert cfg.llmgate.database_url is not None
    engine = create_engine_for(cfg.llmgate.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def parse_since(value: str | None) -> datetime | None:
    """``30m``, ``2h``, ``7d``, an ISO date or an ISO datetime (UTC unless it says otherwise)."""
    if value is None:
        return None
    match = _RELATIVE.match(value.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return datetime.now(UTC) - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"--since: expected e.g. 30m, 2h, 7d, 2026-11-01 or 2026-11-01T09:00, got {value!r}", code=2)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
