"""``llmgate monitor``, ``llmgate drift status|report|baseline``, ``llmgate quality report``.

``monitor`` runs the live monitor worker (``llmgate.monitors.worker``) against the config's store
until Ctrl-C or SIGTERM, at a lower CPU priority than the gateway; one per host holds the lock
``<spill_dir>/monitor.lock`` (a second one waits, and takes over if the first exits). The other
commands read what it stored; ``drift report`` evaluates afresh over any ``--window`` and exits
1 when a model drifted (0 when none did, 2 for a usage or setup error), for cron and CI.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from llmgate.cli.common import ConfigOption, config_from, fail, read_range, zone_of
from llmgate.errors import StoreError
from llmgate.telemetry.alerts import sinks_from_config
from llmgate.telemetry.leader import FileLock
from llmgate.telemetry.otel_settings import OtelSettings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Engine

    from llmgate.config.monitors import MonitorSettings

drift_app = typer.Typer(no_args_is_help=True)
baseline_app = typer.Typer(no_args_is_help=True)
quality_app = typer.Typer(no_args_is_help=True)
drift_app.add_typer(baseline_app, name="baseline", help="Pin the reference window of a model.")

log = logging.getLogger("llmgate.monitors")


class Format(StrEnum):
    table = "table"
    json = "json"


ModelOption = Annotated[str | None, typer.Option("--model", "-m", help="Only this model (its alias).")]
WindowOption = Annotated[
    str | None,
    typer.Option(help="Current window: 1h, 24h, 30m or a number of requests. Default: the config's."),
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table or json.")]


# --- the worker ----------------------------------------------------------------------------------


def monitor(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option(help="Run one pass and exit (for cron or a test).")] = False,
    since: Annotated[
        str | None, typer.Option(help="On first start, read records from this far back (24h, 7d, a date).")
    ] = None,
    nice: Annotated[int, typer.Option(min=0, max=19, help="CPU niceness: the gateway comes first.")] = 19,
    idle: Annotated[
        bool, typer.Option(help="Linux SCHED_IDLE: run only on CPU time nothing else wants.")
    ] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    # SQLAlchemy (the store) and numpy and the OpenTelemetry SDK: off `llmgate monitor --help`
    from llmgate.monitors.worker import MonitorWorker, monitor_embedder
    from llmgate.store.db import create_engine_for
    from llmgate.store.migrate import upgrade
    from llmgate.telemetry.tracing import tracing_from

    if log_level not in ("debug", "info", "warning", "error"):
        fail(f"--log-level must be debug, info, warning or error, not {log_level!r}", code=2)
    cfg = config_from(config)
    start, _ = read_range(since, None, cfg.llmgate.time_zone)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _lower_priority(nice, idle)
    settings = cfg.llmgate.monitors
    master = cfg.general_settings.master_key
    embedder = monitor_embedder(settings, master_key=master.get_secret_value() if master else None)
    assert cfg.llmgate.database_url is not None
    engine = create_engine_for(cfg.llmgate.database_url)
    stop = threading.Event()
    if not once:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    lock = FileLock(Path(cfg.llmgate.spill_dir or ".llmgate-spill") / "monitor.lock")
    worker: MonitorWorker | None = None
    try:
        upgrade(engine)
        waited = False
        while not lock.acquire():
            if once or stop.is_set():
                fail("another llmgate monitor holds the lock on this host", code=1)
            if not waited:
                log.info("another monitor runs on this host (%s); waiting to take over", lock.path)
                waited = True
            stop.wait(5.0)
        worker = MonitorWorker(
            settings,
            engine=engine,
            sinks=sinks_from_config(cfg.llmgate.alerts),
            embedder=embedder,
            start=start,
            tracing=tracing_from(OtelSettings.from_config(cfg.llmgate)),
        )
        if once:
            result = worker.run_once()
            typer.echo(
                f"monitor: {result.read} records read, {result.sampled} sampled, "
                f"{result.rag_scored} RAG-scored, {len(result.evaluated)} evaluated, "
                f"{len(result.alerts)} alerts ({result.seconds:.2f} s)"
            )
            if result.errors:  # a cron job must notice: the pass is counted as failed
                more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
                fail(f"the pass failed: {result.errors[0]}{more}", code=1)
            return
        log.info(
            "monitor: every %.0f s, sample rate %s, window %s; Ctrl-C to stop",
            settings.interval_s,
            settings.sample_rate,
            settings.drift.window,
        )
        worker.run_forever(stop)
    finally:
        lock.release()
        engine.dispose()
        embedder.close()  # an embeddings endpoint's HTTP client
        if worker is not None and worker.tracing is not None:
            worker.tracing.shutdown()  # the last evaluation events go out


def _lower_priority(nice: int, idle: bool) -> None:
    """Give the gateway the CPU first: SCHED_IDLE where Linux has it, else (and also) a niceness."""
    if idle and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:
            log.warning("could not switch the monitor to SCHED_IDLE; lowering its niceness instead")
    if nice:
        try:
            os.nice(nice)
        except OSError:
            log.warning("could not lower the monitor's CPU priority")


# --- reports -------------------------------------------------------------------------------------


@contextmanager
def _store(config: str | None) -> Iterator[tuple[Engine, MonitorSettings]]:
    # SQLAlchemy (the store): off `llmgate monitor --help`
    from llmgate.store.db import create_engine_for
    from llmgate.store.migrate import upgrade

    cfg = config_from(config, for_store_only=True)
    assert cfg.llmgate.database_url is not None
    engine = create_engine_for(cfg.llmgate.database_url)
    try:
        upgrade(engine)
        yield engine, cfg.llmgate.monitors
    finally:
        engine.dispose()


def _echo_json(data: Any) -> None:

    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


@drift_app.command("status", help="Each model and route: samples, last evaluation, open alerts.")
def drift_status(config: ConfigOption = None, format: FormatOption = Format.table) -> None:
    # SQLAlchemy (the store): off `llmgate monitor --help`
    from llmgate.monitors.reports import drift_status as status

    with _store(config) as (engine, settings):
        data = status(engine, settings)
        if format is Format.json:
            _echo_json(data)
            return
        # rich: off `llmgate monitor --help`
        from llmgate.cli.monitor_console import print_status

        print_status(data)


@drift_app.command(
    "report",
    help="Drift statistics now, against the reference, with thresholds.\n\n"
    "Exit codes: 0 nothing drifted, 1 a model drifted (a statistic or the retrieval quality "
    "breached its threshold), 2 a usage or setup error (config, --window, the store, no samples "
    "of --model, the monitors extra); so cron and CI can act on it, as on `llmgate eval run`.",
)
def drift_report(
    config: ConfigOption = None,
    model: ModelOption = None,
    route: Annotated[str | None, typer.Option(help="Only this route (chat/completions, ...).")] = None,
    window: WindowOption = None,
    format: FormatOption = Format.table,
) -> None:
    # SQLAlchemy (the store): off `llmgate monitor --help`
    from sqlalchemy.exc import SQLAlchemyError

    from llmgate.monitors.reports import drift_report as report

    _check_window(window)
    try:
        with _store(config) as (engine, settings):
            data = report(engine, settings, now=datetime.now(UTC), model=model, route=route, window=window)
    except (SQLAlchemyError, StoreError, OSError) as exc:
        # SQLAlchemy (the store): off `llmgate monitor --help`
        from llmgate.store.db import describe_error

        fail(f"cannot read the store: {describe_error(exc)}", code=2)
    except ImportError as exc:  # numpy, faiss, scipy or scikit-learn missing
        fail(f"drift report needs the monitors extra (README, Monitors): {exc}", code=2)
    if model is not None and not data["groups"]:
        fail(f"no monitored samples of model {model!r} yet", code=2)
    if format is Format.json:
        _echo_json(data)
    else:
        # rich: off `llmgate monitor --help`
        from llmgate.cli.monitor_console import print_drift_report

        print_drift_report(data)
    if any(group["status"] == "drifted" for group in data["groups"]):
        raise typer.Exit(1)


@quality_app.command("report", help="Retrieval quality of RAG requests: means, tails, worst requests.")
def quality_report(
    config: ConfigOption = None,
    model: ModelOption = None,
    window: WindowOption = None,
    format: FormatOption = Format.table,
    by_feedback: Annotated[
        bool,
        typer.Option(
            "--by-feedback",
            help="Split each model's figures by the users' rating of its requests: good, bad, unrated.",
        ),
    ] = False,
) -> None:
    # SQLAlchemy (the store): off `llmgate monitor --help`
    from llmgate.monitors.reports import quality_report as report

    _check_window(window)
    with _store(config) as (engine, settings):
        now = datetime.now(UTC)
        data = report(engine, settings, now=now, model=model, window=window, by_feedback=by_feedback)
        if format is Format.json:
            _echo_json(data)
            return
        # rich: off `llmgate monitor --help`
        from llmgate.cli.monitor_console import print_quality_report

        print_quality_report(data)


# --- baselines -------------------------------------------------------------------------------------


@baseline_app.command("set", help="Pin [--since, --until] of a model's traffic as its drift reference.")
def baseline_set(
    model: Annotated[str, typer.Option("--model", "-m", help="The model (its alias).")],
    since: Annotated[
        str,
        typer.Option(help="Start: 7d, 24h ago, a date (midnight in llmgate.time_zone) or an ISO datetime."),
    ],
    until: Annotated[str | None, typer.Option(help="End, as --since. Default: now.")] = None,
    route: Annotated[str, typer.Option(help="A route (chat/completions, ...) or * for every route.")] = "*",
    config: ConfigOption = None,
) -> None:
    # SQLAlchemy (the store): off `llmgate monitor --help`
    from llmgate.store.monitors import count_samples, set_baseline

    start, end = read_range(since, until, zone_of(config), default_until=datetime.now(UTC))
    assert start is not None and end is not None
    with _store(config) as (engine, settings):
        n = count_samples(engine, model, None if route == "*" else route, start, end)
        if n < settings.drift.min_samples:
            fail(
                f"only {n} sampled requests of {model!r} in that window; a baseline needs at least "
                f"{settings.drift.min_samples} (llmgate.monitors.drift.min_samples)",
                code=1,
            )
        set_baseline(engine, model, route, start, end, datetime.now(UTC))
        typer.echo(f"baseline of {model} ({route}): {start.isoformat()} to {end.isoformat()}, {n} samples")


@baseline_app.command("clear", help="Unpin a model's baseline (the first requests are the reference again).")
def baseline_clear(
    model: Annotated[str, typer.Option("--model", "-m", help="The model (its alias).")],
    route: Annotated[str, typer.Option(help="The route the baseline was set for.")] = "*",
    config: ConfigOption = None,
) -> None:
    # SQLAlchemy (the store): off `llmgate monitor --help`
    from llmgate.store.monitors import clear_baseline

    with _store(config) as (engine, _):
        if not clear_baseline(engine, model, route):
            fail(f"no baseline pinned for {model!r} ({route})", code=1)
        typer.echo(f"baseline of {model} ({route}) cleared")


@baseline_app.command("list", help="Pinned baselines.")
def baseline_list(config: ConfigOption = None, format: FormatOption = Format.table) -> None:
    # SQLAlchemy (the store): off `llmgate monitor --help`
    from llmgate.store.monitors import baselines

    with _store(config) as (engine, _):
        rows = baselines(engine)
        if format is Format.json:
            _echo_json(
                [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]
            )
            return
        if not rows:
            typer.echo("no baselines pinned: each model's first requests are its reference")
        for r in rows:
            typer.echo(f"{r['model']}\t{r['route']}\t{r['since'].isoformat()}\t{r['until'].isoformat()}")


def _check_window(window: str | None) -> None:
    if window is None:
        return
    # pydantic (the config schema): off `llmgate monitor --help`
    from llmgate.config.monitors import parse_window

    try:
        parse_window(window)
    except ValueError as exc:
        fail(f"--window: {exc}", code=2)
