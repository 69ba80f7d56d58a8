"""``llmgate eval ...``: run suites, list and show stored runs, compare runs, set baselines.

``eval run`` calls models through a gateway, as any client does:

- ``--config FILE`` (or ``LLMGATE_CONFIG``) without ``--base-url``: a gateway for that config is
  started in this process on a free loopback port (recording inline, no writer process, no eval
  schedules) and the results go to that config's store;
- ``--base-url URL [--api-key K]``: that gateway is called; results go to the store of
  ``--config``/``LLMGATE_CONFIG`` when one is given (its prices also price the calls), else to
  ``LLMGATE_DATABASE_URL`` or ``./llmgate.db``. ``--no-store`` keeps nothing.

The other commands read the same store (``--config``, else ``LLMGATE_DATABASE_URL``/``./llmgate.db``)
and never create one (``cli/eval_setup.py``). Before the first case, ``eval run`` checks its setup
(``evals/preflight.py``). After a run, each model's results are compared with the baseline of the
suite and model, if one is set (``baseline set RUN --model M`` makes another model's run that).
Exit codes: 0 everything passed and nothing regressed; 1 a case failed or errored, a regression,
or the store failed; 2 a usage, config, suite or setup error (one line on stderr, nothing run).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from llmgate.cli.common import ConfigOption, config_from, fail, missing_store
from llmgate.cli.eval_setup import checked_gateway, maybe_engine, read_engine, store_url
from llmgate.errors import ConfigError, LlmgateError

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.engine import Engine

    from llmgate.config import GatewayConfig
    from llmgate.evals.reported import Reported
    from llmgate.evals.scorer_process import ScorerProcess
    from llmgate.evals.suite import Suite

app = typer.Typer(no_args_is_help=True)
baseline_app = typer.Typer(no_args_is_help=True)
app.add_typer(baseline_app, name="baseline", help="The run each suite and model is compared against.")


class Output(StrEnum):
    table = "table"
    json = "json"
    junit = "junit"
    html = "html"


class Format(StrEnum):
    table = "table"
    json = "json"


class Method(StrEnum):
    mcnemar = "mcnemar"
    bootstrap = "bootstrap"


Alpha = Annotated[float, typer.Option(min=0.0001, max=0.5, help="Significance level of the paired test.")]
MinEffect = Annotated[float, typer.Option(min=0.0, max=1.0, help="Smallest drop that is a regression.")]
MethodOption = Annotated[Method, typer.Option(help="mcnemar (pass/fail flips) or bootstrap (scores).")]
OutPath = Annotated[str | None, typer.Option("--out", help="Write the report to this file.")]


@contextmanager
def _errors() -> Iterator[None]:
    """Known failures as one line: usage, config and suite problems exit 2, the rest 1."""
    # pydantic (the config schema): off `llmgate eval --help`
    from llmgate.evals.history import RunNotFound

    try:
        yield
    except (ConfigError, RunNotFound) as exc:
        fail(exc.message if isinstance(exc, ConfigError) else str(exc.args[0]), code=2)
    except LlmgateError as exc:
        fail(exc.message, code=1)


def _console(*, stderr: bool = False) -> Console:
    # rich: off `llmgate eval --help`
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 200, highlight=False)


# --- eval run ---------------------------------------------------------------------------------


@app.command("run")
def run(
    suite: Annotated[
        str, typer.Argument(metavar="SUITE", help="The suite file, e.g. evals/factual_qa.yaml.")
    ],
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model to test (repeatable; default: the suite's)."),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="A running gateway, e.g. http://127.0.0.1:4000/v1.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="LLMGATE_API_KEY", help="Key for --base-url (or LLMGATE_API_KEY).")
    ] = None,
    config: ConfigOption = None,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Cases in flight at once.")] = 4,
    repeat: Annotated[int, typer.Option(min=1, max=100, help="Run every case this many times.")] = 1,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only cases with this tag (repeatable).")
    ] = None,
    output: Annotated[Output, typer.Option(help="table, json, junit or html.")] = Output.table,
    out: OutPath = None,
    store: Annotated[bool, typer.Option("--store/--no-store", help="Keep the results in the store.")] = True,
    alpha: Alpha = 0.05,
    min_effect: MinEffect = 0.05,
    method: MethodOption = Method.mcnemar,
) -> None:
    """Run a suite against its models through a gateway; compare with the baseline."""
    # pydantic (the config schema): off `llmgate eval --help`
    from llmgate.evals.suite import load_suite

    if not base_url and not config:
        fail("give --config FILE (starts a gateway in-process) or --base-url URL of a running one", code=2)
    with _errors():
        loaded = load_suite(suite)
        models = list(model or loaded.models)
        if not models:
            fail(f"{suite}: no model to run: list models: in the suite or pass --model", code=2)
        cases = loaded.select(tag)
        if not cases:
            fail(f"{suite}: no case has any of the tags {', '.join(tag or [])}", code=2)
        cfg = config_from(config, for_store_only=bool(base_url)) if config else None
        gateway = checked_gateway(
            loaded, cases, models, base_url=base_url, api_key=api_key, cfg=cfg, config_path=config
        )
        with gateway as (url, key, scoring), maybe_engine(store_url(config) if store else None) as engine:
            reported = _run(loaded, suite, models, url, key, engine, cfg, concurrency, repeat, tag, scoring)
            reported = _with_baselines(engine, reported, alpha, min_effect, method.value)
    _emit(reported, output, out)
    failed = any(s.status != "passed" for s, _ in reported)
    regressed = any(c is not None and c.regression for _, c in reported)
    raise typer.Exit(1 if failed or regressed else 0)


def _run(
    loaded: Suite,
    suite: str,
    models: list[str],
    base_url: str,
    api_key: str,
    engine: Engine | None,
    cfg: GatewayConfig | None,
    concurrency: int,
    repeat: int,
    tags: list[str] | None,
    scoring: ScorerProcess | None,
) -> list[Reported]:
    # pydantic (the config schema) and rich: off `llmgate eval --help`
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from llmgate.evals.runner import run_suite_file

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=_console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(model: str, done: int, total: int) -> None:
            if model not in tasks:
                tasks[model] = bar.add_task(model, total=total)
            bar.update(tasks[model], completed=done)

        summaries = run_suite_file(
            suite,
            models=models,
            base_url=base_url,
            api_key=api_key,
            engine=engine,
            concurrency=concurrency,
            repeat=repeat,
            tags=tags,
            config=cfg,
            progress=progress,
            loaded=loaded,
            scoring=scoring,
        )
    return [(s, None) for s in summaries]


def _with_baselines(
    engine: Engine | None, reported: list[Reported], alpha: float, min_effect: float, method: str
) -> list[Reported]:
    if engine is None:
        return reported
    # pydantic (the config schema): off `llmgate eval --help`
    from llmgate.evals.history import compare_with_baseline

    return [
        (s, compare_with_baseline(engine, s, alpha=alpha, min_effect=min_effect, method=method))
        for s, _ in reported
    ]


def _emit(reported: list[Reported], output: Output, out: str | None) -> None:
    """The report on stdout or in --out; beside a file format, the summary (stderr when the format
    itself is on stdout)."""
    # pydantic (the config schema) and rich: off `llmgate eval --help`
    from llmgate.evals.console import print_report
    from llmgate.evals.report import render

    if output is Output.table and out is None:
        print_report(_console(), reported)
        return
    text = render(reported, output.value)
    if out is not None:
        Path(out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if output is not Output.table:
        print_report(_console(stderr=out is None), reported, cases=False)


# --- stored runs ------------------------------------------------------------------------------


@app.command("list")
def list_runs(
    config: ConfigOption = None,
    suite: Annotated[str | None, typer.Option(help="Only runs of this suite (its name).")] = None,
    model: Annotated[str | None, typer.Option(help="Only runs of this model.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many runs.")] = 50,
    format: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Stored runs, newest first (* marks baselines)."""

    # SQLAlchemy (the store) and rich: off `llmgate eval --help`
    from llmgate.evals.console import print_runs
    from llmgate.store import evals as store

    with _errors():
        url = store_url(config)
        missing = missing_store(url)
    if missing is not None:  # an empty list, and why: reading never creates a store
        typer.echo(f"no eval runs stored: {missing}", err=format is Format.json)
        if format is Format.json:
            typer.echo("[]")
        return
    with _errors(), read_engine(url) as engine:
        runs = store.list_runs(engine, suite=suite, model=model, limit=limit)
        baselines = {b["run_id"] for b in store.list_baselines(engine)}
    if format is Format.json:
        rows = [{**r, "baseline": r["id"] in baselines} for r in runs]
        for row in rows:
            row["summary"] = orjson.loads(row.pop("summary_json") or "null")
        typer.echo(orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2).decode())
        return
    print_runs(_console(), runs, baselines)


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id (or a unique prefix of one).")],
    config: ConfigOption = None,
    output: Annotated[Output, typer.Option(help="table, json, junit or html.")] = Output.table,
    out: OutPath = None,
) -> None:
    """One stored run, case by case, with its baseline comparison."""
    # pydantic (the config schema): off `llmgate eval --help`
    from llmgate.evals.history import compare_with_baseline, load_run

    with _errors(), read_engine(store_url(config)) as engine:
        summary = load_run(engine, run_id)
        reported: list[Reported] = [(summary, compare_with_baseline(engine, summary))]
    _emit(reported, output, out)


@app.command("compare")
def compare(
    run_a: Annotated[str, typer.Argument(metavar="RUN_A", help="The earlier run (the reference).")],
    run_b: Annotated[str, typer.Argument(metavar="RUN_B", help="The later run.")],
    config: ConfigOption = None,
    alpha: Alpha = 0.05,
    min_effect: MinEffect = 0.05,
    method: MethodOption = Method.mcnemar,
    format: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Compare RUN_B with RUN_A case by case; exit 1 when RUN_B regressed."""

    # pydantic (the config schema) and rich: off `llmgate eval --help`
    from llmgate.evals.console import print_comparison
    from llmgate.evals.history import compare_summaries, load_run

    with _errors(), read_engine(store_url(config)) as engine:
        first, second = load_run(engine, run_a), load_run(engine, run_b)
    if (first.suite, first.model) != (second.suite, second.model):
        typer.echo(
            f"note: comparing {first.suite}/{first.model} with {second.suite}/{second.model}", err=True
        )
    result = compare_summaries(first, second, alpha=alpha, min_effect=min_effect, method=method.value)
    if format is Format.json:
        typer.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        print_comparison(_console(), result, label="RUN_A")
    raise typer.Exit(1 if result.regression else 0)


@baseline_app.command("set")
def baseline_set(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id (or a unique prefix of one).")],
    config: ConfigOption = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="The model RUN is the bar for (default: RUN's own model)."),
    ] = None,
) -> None:
    """Make RUN the baseline of its suite and model (or of its suite on --model, another model)."""
    # SQLAlchemy (the store): off `llmgate eval --help`
    from llmgate.evals.history import find_run
    from llmgate.store import evals as store

    with _errors(), read_engine(store_url(config)) as engine:
        run = find_run(engine, run_id)
        if run["status"] == "running":
            fail(f"run {run['id'][:12]} has not finished", code=2)
        store.set_baseline(engine, run["suite"], model or run["model"], run["id"])
    of = f" (a run of {run['model']})" if model and model != run["model"] else ""
    typer.echo(f"baseline of {run['suite']} on {model or run['model']}: run {run['id']}{of}")


@baseline_app.command("list")
def baseline_list(config: ConfigOption = None) -> None:
    """Every baseline, by suite and model."""
    # SQLAlchemy (the store): off `llmgate eval --help`
    from llmgate.store import evals as store

    with _errors():
        url = store_url(config)
        missing = missing_store(url)
    if missing is not None:  # reading never creates a store
        typer.echo(f"no baselines set: {missing}")
        return
    with _errors(), read_engine(url) as engine:
        rows = store.list_baselines(engine)
    if not rows:
        typer.echo("no baselines set")
    for row in rows:
        typer.echo(f"{row['suite']}\t{row['model']}\t{row['run_id']}\t{row['set_at']:%Y-%m-%d %H:%M:%S}")
