"""``llmgate dataset``: datasets from recorded traffic, curated by hand, exported as eval suites.

- ``create NAME --from-logs [--model] [--since] [--until] [--where EXPR] [--sample N] [--dedupe]
  [--keep-pii] [--seed N] [--description D] [--replace]``: select recorded calls
  (``datasets/select.py``: the ``--where`` language of ``datasets/filter.py``, sampling
  stratified by model and day, near-duplicate removal with the shared embedder, PII scrubbing
  unless ``--keep-pii``) and keep them as dataset NAME; prints what it did. A taken NAME is
  refused unless ``--replace``.
- ``export NAME --suite FILE [--model M ...]``: the dataset as an eval suite for ``llmgate eval
  run`` (``datasets/export.py``).
- ``list`` / ``show NAME`` (``--format table|json``), ``add NAME (--request ID ... | --session
  ID) [--keep-pii]`` (makes the dataset when missing; a request already in it is skipped),
  ``remove NAME (--request ID ... | --item N ...)``, ``delete NAME``.

Ranges as every command reads them (``config/time_range.py``: a bare date is midnight in
``llmgate.time_zone``; no ``--since``: from the first record). Each change is audited as
``cli:<os user>``. Errors are one line: exit 2 for a bad option or ``--where``, 1 for a dataset,
request or session that does not exist (and anything else). The library does the work
(``datasets/curate.py``); this module reads options and prints.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import orjson
import typer

from llmgate.cli.common import (
    ConfigOption,
    RangeSince,
    RangeUntil,
    config_from,
    fail,
    option_error,
    read_range,
)
from llmgate.cli.key_store import actor
from llmgate.cli.log_record import safe_text
from llmgate.errors import ConfigError, InvalidRequest, LlmgateError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sqlalchemy import Engine

    from llmgate.config.monitors import RagSettings

dataset_app = typer.Typer(
    help="Datasets from recorded traffic: create, export, list, show, add, remove, delete.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The dataset's name.")]


class Format(StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="table or json.")]


def _refused(exc: InvalidRequest) -> NoReturn:
    """An ``InvalidRequest`` from the library as one line: a taken name exits 1, a bad value 2."""
    if exc.code == "conflict":
        fail(f"{exc.message} (--replace makes it again)", code=1)
    if exc.param in ("since", "until", "where", "sample", "seed", "model") and not exc.message.startswith(
        f"{exc.param}:"
    ):
        fail(f"--{exc.param}: {exc.message}", code=2)
    if exc.param in ("since", "until", "where", "sample", "seed", "model"):
        option_error(exc)
    fail(exc.message, code=2)


@contextmanager
def _store(config: str | None) -> Iterator[tuple[Engine, str, RagSettings]]:
    """The config's store, migrated to the newest schema (a no-op when it is), its time zone, and
    where its monitors find a request's retrieved context (``llmgate.monitors.rag``); every known
    error in the ``with`` block ends as one line and its exit code."""
    # SQLAlchemy (the store) and its migrations: off `llmgate dataset --help`
    from llmgate.store.db import create_engine_for
    from llmgate.store.migrate import upgrade

    try:
        cfg = config_from(config, for_store_only=True)
        assert cfg.llmgate.database_url is not None
        engine = create_engine_for(cfg.llmgate.database_url)
        try:
            upgrade(engine)
            yield engine, cfg.llmgate.time_zone, cfg.llmgate.monitors.rag
        finally:
            engine.dispose()
    except InvalidRequest as exc:  # the command's own errors too: they are raised at the yield
        _refused(exc)
    except ConfigError as exc:
        fail(exc.message, code=2)
    except LlmgateError as exc:  # a dataset, request or session that does not exist; the store down
        fail(exc.message, code=1)


@dataset_app.command("create", help="Make a dataset from recorded calls (--from-logs).")
def create_command(
    name: NameArg,
    from_logs: Annotated[bool, typer.Option("--from-logs", help="Select from the recorded calls.")] = False,
    model: Annotated[str | None, typer.Option(help="Only calls to this model alias.")] = None,
    since: RangeSince = None,
    until: RangeUntil = None,
    where: Annotated[
        str | None, typer.Option(help="Filter, e.g. 'feedback.thumbs = down or groundedness < 0.5'.")
    ] = None,
    sample: Annotated[
        int | None, typer.Option(min=1, help="At most N calls, stratified by model and day.")
    ] = None,
    dedupe: Annotated[bool, typer.Option("--dedupe", help="Drop near-duplicate prompts (embedder).")] = False,
    keep_pii: Annotated[
        bool, typer.Option("--keep-pii", help="Keep emails, phone and card numbers, keys in prompts.")
    ] = False,
    seed: Annotated[int, typer.Option(help="The sampling seed (same seed, same sample).")] = 0,
    description: Annotated[str | None, typer.Option(help="What the dataset is for.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Make a dataset of that name again.")] = False,
    config: ConfigOption = None,
) -> None:
    # the datasets library (SQLAlchemy, the filter, the embedder when --dedupe): off `--help`
    from llmgate.datasets.curate import LogQuery, create_from_logs

    if not from_logs:
        fail("dataset create needs --from-logs (to copy chosen calls, use llmgate dataset add)", code=2)
    with _store(config) as (engine, tz, rag):
        start, end = read_range(since, until, tz)
        query = LogQuery(start, end, model, where, sample, dedupe, keep_pii, seed)
        made = create_from_logs(
            engine, name, query, actor=actor(), zone=tz, description=description, replace=replace, rag=rag
        )
    s = made.selection
    verb = "replaced" if made.dataset.created_at != made.dataset.updated_at else "created"
    unusable = f", {s.unusable} without a chat prompt" if s.unusable else ""
    typer.echo(
        f"{verb} dataset {name!r}: {len(s.items)} items ({s.matched} matched of {s.considered} considered, "
        f"{s.sampled_out} sampled out, {s.duplicates} near-duplicates removed{unusable}, "
        f"{s.scrubbed} PII replacements{': PII kept' if keep_pii else ''})"
    )


@dataset_app.command("export", help="Write the dataset as an eval suite for llmgate eval run.")
def export_command(
    name: NameArg,
    suite: Annotated[Path, typer.Option("--suite", help="The suite file to write.", dir_okay=False)],
    model: Annotated[
        list[str] | None, typer.Option("--model", help="A model to run it on (repeat; default: as recorded).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    # the datasets library (SQLAlchemy): off `--help`
    from llmgate.datasets.curate import export

    with _store(config) as (engine, _, _):
        try:
            exported = export(engine, name, models=model or ())
        except InvalidRequest as exc:  # nothing to export
            fail(exc.message)
    try:
        suite.write_text(exported.text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {suite}: {exc.strerror or type(exc).__name__}")
    skipped = f" ({exported.skipped} items without a user message skipped)" if exported.skipped else ""
    typer.echo(f"wrote {exported.cases} cases to {suite}{skipped}; run them: llmgate eval run {suite}")


@dataset_app.command("list", help="Every dataset with its number of items.")
def list_command(format: FormatOption = Format.table, config: ConfigOption = None) -> None:
    # the datasets library (SQLAlchemy): off `--help`
    from llmgate.datasets.curate import datasets_json
    from llmgate.store.datasets import list_datasets

    with _store(config) as (engine, tz, _):
        rows = list_datasets(engine)
    if format is Format.json:
        typer.echo(orjson.dumps({"datasets": datasets_json(rows)}, option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        typer.echo("no datasets (make one: llmgate dataset create NAME --from-logs --where ...)")
        return
    zone = ZoneInfo(tz)
    lines = [("name", "items", f"updated ({tz})", "made by", "description")]
    for row in rows:
        made = "logs" if row.query is not None else "hand"
        when = row.updated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        lines.append((row.name, str(row.items), when, made, _short(row.description or "-", 60)))
    _print_columns(lines)


@dataset_app.command("show", help="One dataset: its query and its items.")
def show_command(name: NameArg, format: FormatOption = Format.table, config: ConfigOption = None) -> None:
    # the datasets library (SQLAlchemy): off `--help`
    from llmgate.datasets.curate import dataset_json
    from llmgate.store.datasets import get_dataset

    with _store(config) as (engine, tz, _):
        found = get_dataset(engine, name)
    if found is None:
        fail(f"no dataset named {name[:128]!r}")
    if format is Format.json:
        typer.echo(orjson.dumps(dataset_json(found), option=orjson.OPT_INDENT_2).decode())
        return
    zone = ZoneInfo(tz)
    row = found.row
    typer.echo(
        f"dataset {row.name}: {row.items} items"
        + (f" - {safe_text(row.description)}" if row.description else "")
    )
    if row.query is not None:
        query = ", ".join(f"{k}={v}" for k, v in row.query.items() if v not in (None, False))
        typer.echo(f"made from the logs: {safe_text(query) or 'every call'}")
    lines = [("item", "request", f"recorded ({tz})", "model", "rating", "context", "question")]
    for item in found.items:
        lines.append(
            (
                str(item.id),
                (item.request_id or "-")[:12],
                item.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                _short(item.model, 40),
                item.rating or "-",
                str(len(item.context or ())),
                _short(_question(item.messages), 70),
            )
        )
    if found.items:
        _print_columns(lines)


@dataset_app.command("add", help="Copy recorded requests, or a session's calls, into a dataset.")
def add_command(
    name: NameArg,
    request: Annotated[list[str] | None, typer.Option("--request", help="A request id (repeat).")] = None,
    session: Annotated[str | None, typer.Option("--session", help="Every call of this session.")] = None,
    keep_pii: Annotated[bool, typer.Option("--keep-pii", help="Do not scrub the prompts.")] = False,
    config: ConfigOption = None,
) -> None:
    # the datasets library (SQLAlchemy): off `--help`
    from llmgate.datasets.curate import add_requests, add_session

    if bool(request) == bool(session):
        fail("give --request ID (repeatable) or --session ID", code=2)
    with _store(config) as (engine, _, rag):
        if session:
            outcome = add_session(engine, name, session, actor=actor(), keep_pii=keep_pii, rag=rag)
        else:
            outcome = add_requests(engine, name, request or [], actor=actor(), keep_pii=keep_pii, rag=rag)
    made = "created dataset" if outcome.created else "dataset"
    already = f", {outcome.present} already in it" if outcome.present else ""
    typer.echo(f"{made} {name!r}: {outcome.added} added{already}; {outcome.dataset.items} items")


@dataset_app.command("remove", help="Remove items from a dataset, by request id or item number.")
def remove_command(
    name: NameArg,
    request: Annotated[list[str] | None, typer.Option("--request", help="A request id (repeat).")] = None,
    item: Annotated[
        list[int] | None, typer.Option("--item", help="An item number (repeat; see show).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    # the datasets library (SQLAlchemy): off `--help`
    from llmgate.store.datasets import remove_items

    if not request and not item:
        fail("give --request ID or --item N (each repeatable)", code=2)
    with _store(config) as (engine, _, _):
        gone = remove_items(engine, name, actor=actor(), item_ids=item or (), request_ids=request or ())
    typer.echo(f"removed {gone} item{'s' if gone != 1 else ''} from dataset {name!r}")


@dataset_app.command("delete", help="Delete a dataset and its items.")
def delete_command(name: NameArg, config: ConfigOption = None) -> None:
    # the datasets library (SQLAlchemy): off `--help`
    from llmgate.store.datasets import delete_dataset

    with _store(config) as (engine, _, _):
        items = delete_dataset(engine, name, actor=actor())
    typer.echo(f"deleted dataset {name!r} ({items} items)")


# --- printing ------------------------------------------------------------------------------------


def _question(messages: list[dict[str, Any]]) -> str:
    from llmgate.protocol.message_text import message_text  # with the library: off `--help`

    users = [
        message_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"
    ]
    return users[-1] if users else "-"


def _short(text: str, width: int) -> str:
    text = safe_text(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_columns(lines: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        sys.stdout.write(
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() + "\n"
        )
