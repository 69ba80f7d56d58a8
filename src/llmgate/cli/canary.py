"""``llmgate canary ...``: canary releases by hand, a thin client of ``canary/actions.py``.

``start`` a canary on a model group (a candidate group or deployment, or the same model with
``--system-prompt`` / ``--param``), see its ``status`` (the gates of its last evaluation), ``promote``
it a step (or ``--full``: to 100 %), ``pause`` / ``resume`` it, ``rollback`` it, read its ``history``
(the decision log) and ``export`` the config change that keeps a promotion. Changes go to the
config's store, with their audit entry as ``cli:<os user>``, and are announced over Redis when the
config has it: every gateway follows within a second (the gateway's poll, without Redis).

A bad value (an unknown model, steps that do not end at 100, an unknown gate) is one line and exit
code 2; a refusal (no such canary, a second canary on a model, pausing one that ended) is one line
and exit code 1. ``eval:`` suite paths are relative to the working directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmgate.cli.common import ConfigOption, config_from, fail
from llmgate.cli.key_options import Format, FormatOption, echo_json, print_record, print_table
from llmgate.cli.key_store import actor
from llmgate.errors import ConfigError, InvalidRequest, LlmgateError

if TYPE_CHECKING:
    from llmgate.canary.actions import CanaryActions
    from llmgate.store.canaries import CanaryRow

canary_app = typer.Typer(no_args_is_help=True)

Model = Annotated[str, typer.Argument(metavar="MODEL", help="The model group (or the canary's id).")]


@contextmanager
def _actions(config: str | None) -> Iterator[CanaryActions]:
    """The canary actions on the config's store (migrated); errors inside end as one line."""
    try:
        # SQLAlchemy (the store) and numpy (the gates): off `llmgate canary --help`
        from llmgate.canary.actions import CanaryActions, Catalog
        from llmgate.store.db import create_engine_for
        from llmgate.store.migrate import upgrade

        cfg = config_from(config, for_store_only=True)
        assert config is not None and cfg.llmgate.database_url is not None
        engine = create_engine_for(cfg.llmgate.database_url)
        try:
            upgrade(engine)
            catalog = Catalog.of(cfg, config, base_dir=Path.cwd())
            yield CanaryActions(engine, catalog, actor=actor(), source="cli", redis_url=cfg.routing.redis_url)
        finally:
            engine.dispose()
    except ConfigError as exc:
        fail(exc.message, code=2)
    except InvalidRequest as exc:  # a bad value: 2; a refusal (a conflict): 1
        fail(exc.message, code=1 if exc.code == "conflict" else 2)
    except LlmgateError as exc:
        fail(exc.message, code=1)


def _param(text: str) -> tuple[str, Any]:
    # PyYAML, kept off `llmgate --help`: a value as YAML reads it (0.2 a number, true a boolean)
    import yaml

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        fail(f"--param: {text!r} is not KEY=VALUE (e.g. temperature=0.2)", code=2)
    try:
        return name.strip(), yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        return name.strip(), value


def _label(row: CanaryRow) -> str:
    # SQLAlchemy (the store), through the dashboard's module: off `llmgate canary --help`
    from llmgate.canary.timeline import candidate_label

    return candidate_label(row.model, row.candidate)


def _show(row: CanaryRow, format: Format, headline: str) -> None:
    # SQLAlchemy (the store) and numpy (the gates), through the actions: off `llmgate canary --help`
    from llmgate.canary.actions import canary_json

    if format is Format.json:
        echo_json(canary_json(row))
        return
    typer.echo(headline)
    steps = ", ".join(f"{step:g}" for step in row.steps)
    print_record(
        {
            "id": row.id,
            "model": row.model,
            "candidate": _label(row),
            "status": row.status,
            "percent": f"{row.percent:g}%",
            "step": f"{row.step_index + 1} of {len(row.steps)} ({steps})",
            "sticky": row.sticky,
            "gates": list(row.gates),
        }
    )


@canary_app.command("start", help="Start a canary: the candidate takes the first step's share of MODEL.")
def start(
    model: Model,
    candidate: Annotated[
        str | None,
        typer.Option(help="Another model group, or a deployment id (default: MODEL itself, changed)."),
    ] = None,
    steps: Annotated[str | None, typer.Option(metavar="10,50,100", help="Percentages, the last 100.")] = None,
    gates: Annotated[
        str | None, typer.Option(metavar="errors,latency,...", help="Gates (and eval:<suite file>).")
    ] = None,
    sticky: Annotated[str | None, typer.Option(metavar="user|session|key", help="Default: user.")] = None,
    system_prompt: Annotated[str | None, typer.Option(help="The candidate's system prompt.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(metavar="K=V", help="A parameter forced on the candidate (repeatable)."),
    ] = None,
    canary_id: Annotated[str | None, typer.Option("--id", help="The canary's id (default: MODEL).")] = None,
    min_step_requests: Annotated[
        int | None, typer.Option(help="Candidate requests at a step before it may be promoted (100).")
    ] = None,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    params = dict(_param(text) for text in param or [])
    with _actions(config) as actions:
        row = actions.start(
            model=model,
            candidate=candidate,
            system_prompt=system_prompt,
            params=params or None,
            steps=steps,
            gates=gates,
            sticky=sticky,
            canary_id=canary_id,
            min_step_requests=min_step_requests,
        )
    _show(row, format, f"Started canary {row.id}: {row.percent:g}% of {row.model} to {_label(row)}.")


def _gate_line(gate: dict[str, Any]) -> list[Any]:
    def number(key: str) -> str | None:
        value = gate.get(key)
        return None if value is None else f"{value:+.4g}"

    bound = f"[{number('low')}, {number('high')}]" if gate.get("low") is not None else None
    sizes = f"{gate.get('n_candidate', 0)}/{gate.get('n_stable', 0)}"
    return [
        gate.get("name"),
        gate.get("verdict"),
        number("effect"),
        bound,
        gate.get("tolerance"),
        sizes,
        gate.get("note"),
    ]


@canary_app.command("status", help="The canaries (or one), with their gates' last evaluation.")
def status(
    model: Annotated[str | None, typer.Argument(metavar="[MODEL]", help="One model's canary.")] = None,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    # SQLAlchemy (the store) and numpy (the gates), through the actions: off `llmgate canary --help`
    from llmgate.canary.actions import canary_json

    with _actions(config) as actions:
        rows = actions.status(model)
    if format is Format.json:
        echo_json([canary_json(row) for row in rows] if model is None else canary_json(rows[0]))
        return
    if not rows:
        typer.echo("no canaries")
        return
    if model is None:
        lines = []
        for row in rows:
            decision = (row.last_evaluation or {}).get("decision") or {}
            step = f"{row.step_index + 1}/{len(row.steps)}"
            lines.append(
                [
                    row.id,
                    row.model,
                    _label(row),
                    row.status,
                    f"{row.percent:g}%",
                    step,
                    decision.get("reason"),
                ]
            )
        print_table(["id", "model", "candidate", "status", "percent", "step", "last decision"], lines)
        return
    row = rows[0]
    _show(row, format, f"Canary {row.id} on {row.model}: {row.status}, {row.percent:g}% to the candidate.")
    evaluation = row.last_evaluation or {}
    if evaluation.get("gates"):
        decision = evaluation.get("decision") or {}
        typer.echo(
            f"Last evaluation ({evaluation.get('at')}): {decision.get('action')}: {decision.get('reason')}"
        )
        columns = ["gate", "verdict", "effect", "bound", "tolerance", "n cand/stable", "note"]
        print_table(columns, [_gate_line(gate) for gate in evaluation["gates"]])


@canary_app.command("promote", help="Move a canary to its next step (--full: to 100%, promoted).")
def promote(
    model: Model,
    full: Annotated[bool, typer.Option("--full", help="All the way: 100% and promoted.")] = False,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    with _actions(config) as actions:
        row = actions.promote(model, full=full)
    done = (
        "promoted: the candidate serves all traffic" if row.status == "promoted" else f"at {row.percent:g}%"
    )
    _show(row, format, f"Canary {row.id} {done}.")


@canary_app.command("pause", help="Hold a canary at its step: no promotion until resumed.")
def pause(model: Model, config: ConfigOption = None, format: FormatOption = Format.table) -> None:
    with _actions(config) as actions:
        row = actions.pause(model)
    _show(row, format, f"Canary {row.id} paused at {row.percent:g}% (a failing gate still rolls it back).")


@canary_app.command("resume", help="Let a paused canary be promoted again.")
def resume(model: Model, config: ConfigOption = None, format: FormatOption = Format.table) -> None:
    with _actions(config) as actions:
        row = actions.resume(model)
    _show(row, format, f"Canary {row.id} running again at {row.percent:g}%.")


@canary_app.command("rollback", help="Send all of a canary's traffic back to stable, on every replica.")
def rollback(
    model: Model,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the history).")] = None,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    with _actions(config) as actions:
        row = actions.rollback(model, reason=reason)
    _show(row, format, f"Canary {row.id} rolled back: 0% to the candidate.")


def _event_text(event: dict[str, Any]) -> str:
    details = event.get("details") or {}
    decision = details.get("decision") or {}
    return str(details.get("reason") or decision.get("reason") or "")


@canary_app.command("history", help="What happened to the canaries (or one model's), oldest first.")
def history(
    model: Annotated[str | None, typer.Argument(metavar="[MODEL]", help="One model's (or canary's).")] = None,
    config: ConfigOption = None,
    format: FormatOption = Format.table,
) -> None:
    with _actions(config) as actions:
        events = actions.history(model)
    if format is Format.json:
        echo_json([event | {"at": event["at"].isoformat()} for event in events])
        return
    if not events:
        typer.echo("no canary events")
        return
    lines = [
        [
            f"{e['at']:%Y-%m-%d %H:%M:%S}",
            e["canary_id"],
            e["action"],
            e["actor"],
            None if e["percent"] is None else f"{e['percent']:g}%",
            _event_text(e),
        ]
        for e in events
    ]
    print_table(["time (UTC)", "canary", "action", "actor", "percent", "why"], lines)


@canary_app.command("export", help="The config change that makes a promoted candidate the stable model.")
def export(model: Model, config: ConfigOption = None) -> None:
    with _actions(config) as actions:
        text = actions.export(model)
    typer.echo(text, nl=False)
