"""``llmgate scheduler``: run the config's ``llmgate.eval_schedules`` as a process of its own.

``llmgate serve`` runs the schedules itself; this command is for running them apart from the
gateway (another host, or to keep eval traffic out of the serving processes). It calls the
gateway at ``--base-url`` with the config's master key (or ``--api-key``), stores runs and alerts
in the config's store, and holds the same lock file as ``serve`` (in the spill directory), so a
gateway and a scheduler on one host never both run a schedule. Stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from llmgate.cli.common import ConfigOption, config_from, fail

if TYPE_CHECKING:
    from llmgate.evals.scheduler import EvalScheduler


def scheduler(
    config: ConfigOption = None,
    base_url: Annotated[
        str, typer.Option(help="The gateway the suites call (its /v1 URL).")
    ] = "http://127.0.0.1:4000/v1",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="LLMGATE_API_KEY", help="Key for the gateway (default: the master key)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    # SQLAlchemy (the store) and croniter: off `llmgate eval --help`
    from llmgate.evals.scheduler import scheduler_from_config
    from llmgate.store.db import create_engine_for
    from llmgate.store.migrate import upgrade

    if log_level not in ("debug", "info", "warning", "error"):
        fail(f"--log-level must be debug, info, warning or error, not {log_level!r}", code=2)
    cfg = config_from(config)
    if not cfg.llmgate.eval_schedules:
        fail(f"{config}: no llmgate.eval_schedules to run", code=2)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    master = cfg.general_settings.master_key
    key = api_key or (master.get_secret_value() if master else "llmgate")
    assert cfg.llmgate.database_url is not None
    engine = create_engine_for(cfg.llmgate.database_url)
    try:
        upgrade(engine)  # runs and alerts are stored here
        runner = scheduler_from_config(cfg, base_url=base_url, api_key=key, engine_factory=lambda: engine)
        asyncio.run(_serve(runner))
    finally:
        engine.dispose()


async def _serve(runner: EvalScheduler) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner.start()
    logging.getLogger("llmgate").info(
        "scheduler: %d schedule(s) against %s; Ctrl-C to stop", len(runner.jobs), runner.base_url
    )
    try:
        await stop.wait()
    finally:
        await runner.stop()
