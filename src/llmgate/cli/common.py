"""What the CLI commands share: the ``--config`` option, the store, output formats, errors."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from llmgate.config import GatewayConfig, load_config

if TYPE_CHECKING:
    from sqlalchemy import Engine

ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", envvar="LLMGATE_CONFIG", help="Config file (or set LLMGATE_CONFIG)."),
]

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def fail(message: str, *, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)


def config_from(path: str | None, *, for_store_only: bool = False) -> GatewayConfig:
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
