"""``llmgate audit``: every admin action on keys and teams, oldest first (who, when, what changed).

Reads the append-only audit log (``store/keys.py``); ``--since`` is read as everywhere
(``config/time_range.py``). Split out of ``cli/keys.py``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from llmgate.cli.common import ConfigOption, read_range, zone_of
from llmgate.cli.key_options import Format, FormatOption, cell_text, echo_json, print_table
from llmgate.cli.key_store import key_store


def _change_text(changes: dict[str, list[Any]]) -> str:
    return "; ".join(f"{field}: {cell_text(old)} → {cell_text(new)}" for field, (old, new) in changes.items())


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
    # SQLAlchemy (the store): off `llmgate audit --help`
    from llmgate.store.keys import list_audit

    moment, _ = read_range(since, None, zone_of(config))
    with key_store(config) as engine:
        entries = list_audit(engine, moment, target=target)
    if format is Format.json:
        echo_json([asdict(e) | {"at": e.at.isoformat()} for e in entries])
        return
    if not entries:
        typer.echo("no audit entries")
        return
    print_table(
        ["time (UTC)", "actor", "action", "target", "changes"],
        [
            [e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.target, _change_text(e.changes)]
            for e in entries
        ],
    )
