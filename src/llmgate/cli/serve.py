"""``llmgate serve``: validate the config, then run the gateway under uvicorn."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmgate.cli.common import ConfigOption, config_from, fail
from llmgate.config import build_deployments
from llmgate.config.master_key import start_warnings
from llmgate.version import __version__

if TYPE_CHECKING:
    from llmgate.config import GatewayConfig


#: aliases named in the start-up log; past it, "and N more"
_SHOWN_MODELS = 20


def start_lines(cfg: GatewayConfig, config: str, host: str, port: int) -> list[str]:
    """What ``serve`` says it runs with, at start: the config file, the models, the store (its
    password hidden), whether the dashboard is on, with its address, and what is kept how long."""
    # here, not at the top: the store module brings SQLAlchemy, which `serve --help` does not need
    from llmgate.store.db import shown_url

    deployments = build_deployments(cfg)
    aliases = list(dict.fromkeys(d.model_name for d in deployments))
    named = ", ".join(aliases[:_SHOWN_MODELS])
    if len(aliases) > _SHOWN_MODELS:
        named += f" and {len(aliases) - _SHOWN_MODELS} more"
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    assert cfg.llmgate.database_url is not None
    dashboard = (
        f"dashboard: on at {url}/ui (log in with the master key)"
        if cfg.general_settings.master_key is not None
        else "dashboard: off (it needs general_settings.master_key)"
    )
    return [
        f"llmgate {__version__} serving {url} with config {Path(config).resolve()}",
        f"models: {named or 'none'} ({len(aliases)} aliases, {len(deployments)} deployments)",
        f"store: {shown_url(cfg.llmgate.database_url)}",
        dashboard,
        cfg.llmgate.retention.start_line(),  # "everything is kept forever" included
    ]


def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 4000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (multi-core machines).")] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request line (slows the gateway).")] = False,
) -> None:
    # the server stack: off `llmgate serve --help`
    from llmgate.server.edge import edge_protocol
    from llmgate.server.retention_job import retention_job

    if log_level not in ("debug", "info", "warning", "error"):
        fail(f"--log-level must be debug, info, warning or error, not {log_level!r}", code=2)
    cfg = config_from(config)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # llmgate logs one line of its own
    unimplemented = cfg.unimplemented_keys()
    if unimplemented:
        logging.getLogger("llmgate").warning(
            "these LiteLLM settings are recognised but not implemented by llmgate and have no effect: %s",
            ", ".join(unimplemented),
        )
    master = cfg.general_settings.master_key
    for line in start_warnings(master.get_secret_value() if master else None, host):
        logging.getLogger("llmgate").warning(line)
    assert config is not None
    for line in start_lines(cfg, config, host, port):
        logging.getLogger("llmgate").info(line)
    options: dict[str, object] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        # uvicorn's httptools protocol with the edge's limits (header block size, slow clients)
        "http": edge_protocol(cfg.llmgate.http),
        "ws": "none",  # no WebSocket routes: upgrade requests are served as plain HTTP
        "lifespan": "on",
        "access_log": access_log,
        "log_level": log_level,
        "backlog": 4096,
        "timeout_keep_alive": 30,
        "log_config": None,
    }
    # retention (llmgate.retention): a thread of this process, the lead taken by one per store or host
    job = retention_job(cfg)
    if job is not None:
        job.start()
    try:
        _run(cfg, config, host, port, workers, log_level, options)
    finally:
        if job is not None:
            job.stop()


def _run(
    cfg: GatewayConfig,
    config: str,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    options: dict[str, object],
) -> None:
    # the server stack: off `llmgate serve --help`
    import uvicorn

    from llmgate.server.app import METRICS_DIR_ENV, Settings, create_app, tune_process

    if workers > 1:
        os.environ["LLMGATE_CONFIG"] = str(Path(config).resolve())
        # Each worker builds its own app: tell it where the gateway listens (eval schedules call it).
        os.environ["LLMGATE_HOST"], os.environ["LLMGATE_PORT"] = host, str(port)
        os.environ["LLMGATE_LOG_LEVEL"], os.environ["LLMGATE_WORKERS"] = log_level, str(workers)
        # GET /metrics reaches one worker: they share their totals through files here, fresh per start
        assert cfg.llmgate.spill_dir is not None
        metrics_dir = Path(cfg.llmgate.spill_dir) / f"metrics-{port}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True, exist_ok=True)
        os.environ[METRICS_DIR_ENV] = str(metrics_dir)
        uvicorn.run("llmgate.server.app:create_app_from_env", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    else:
        settings = Settings(config_path=config, host=host, port=port, workers=workers, log_level=log_level)
        app = create_app(settings, cfg)
        tune_process()
        uvicorn.run(app, **options)  # type: ignore[arg-type]
