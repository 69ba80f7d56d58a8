"""What ``llmgate eval`` commands stand on: the store they use, and the gateway a run calls.

- The store: ``--config`` (or ``LLMGATE_CONFIG``) names it; else ``LLMGATE_DATABASE_URL``; else
  ``./llmgate.db``, the store the shipped configs share at the project root, so that runs from the
  project's folder land where its dashboard reads. ``write_engine`` creates and migrates it;
  ``read_engine`` (list, show, compare, baseline) never creates a store that is not there.
- The gateway: ``checked_gateway`` checks the setup first (``evals.preflight``: the quality extra
  the suite needs, the gateway reachable, the key accepted, every model named served), then yields
  the URL and key to call: ``--base-url``, or a gateway for ``--config`` started in this process on
  a free loopback port (recording inline, no writer process, no eval schedules), and the scorer
  process (``evals.scorer_process``) that loads the embedder meanwhile when the suite needs it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, NamedTuple

from llmgate.cli.common import config_from, fail, missing_store

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmgate.config import GatewayConfig
    from llmgate.evals.scorer_process import ScorerProcess
    from llmgate.evals.suite import Case, Suite

DEFAULT_STORE = "sqlite:///llmgate.db"


class Gateway(NamedTuple):
    """What a run calls: the gateway's base URL and key, and the scorer process (or ``None``)."""

    url: str
    key: str
    scoring: ScorerProcess | None


def store_url(config: str | None) -> str:
    """The store of ``config``, else ``LLMGATE_DATABASE_URL``, else ``./llmgate.db``."""
    if config:
        url = config_from(config, for_store_only=True).llmgate.database_url
        assert url is not None
        return url
    return os.environ.get("LLMGATE_DATABASE_URL") or DEFAULT_STORE


@contextmanager
def write_engine(url: str) -> Iterator[Engine]:
    """The store at ``url``, created and migrated if need be."""
    # SQLAlchemy (the store): off `llmgate eval --help`
    from llmgate.store.db import create_engine_for
    from llmgate.store.evals import ensure_schema

    engine = create_engine_for(url)
    try:
        ensure_schema(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def read_engine(url: str) -> Iterator[Engine]:
    """The store at ``url`` for a command that reads it: one line and exit 2 when it does not exist."""
    missing = missing_store(url)
    if missing is not None:
        fail(missing, code=2)
    with write_engine(url) as engine:
        yield engine


@contextmanager
def maybe_engine(url: str | None) -> Iterator[Engine | None]:
    if url is None:
        yield None
        return
    with write_engine(url) as engine:
        yield engine


@contextmanager
def checked_gateway(
    suite: Suite,
    cases: Sequence[Case],
    models: Sequence[str],
    *,
    base_url: str | None,
    api_key: str | None,
    cfg: GatewayConfig | None,
    config_path: str | None,
) -> Iterator[Gateway]:
    """The gateway's base URL and key, and the scorer process when the suite needs the embedder,
    once the setup checks pass (``SetupError`` when one fails); the scorer loads meanwhile."""
    # pydantic (the config schema): off `llmgate eval --help`
    from llmgate.evals.preflight import check_extras, check_gateway, models_named

    named = models_named(suite, models, cases)
    with _closing(check_extras(suite, cases)) as scoring:
        if base_url:
            key = api_key or "none"
            check_gateway(base_url, key, named)
            yield Gateway(base_url, key, scoring)
            return
        assert cfg is not None and config_path is not None
        master = cfg.general_settings.master_key
        key = master.get_secret_value() if master is not None else "none"
        with in_process_gateway(cfg, config_path) as url:
            check_gateway(url, key, named, where=f"the gateway of {config_path}")
            yield Gateway(url, key, scoring)


@contextmanager
def _closing(scoring: ScorerProcess | None) -> Iterator[ScorerProcess | None]:
    try:
        yield scoring
    finally:
        if scoring is not None:
            scoring.close()


@contextmanager
def in_process_gateway(cfg: GatewayConfig, config_path: str) -> Iterator[str]:
    """A gateway for ``cfg`` on a free loopback port, in a thread; yields its base URL."""

    # pydantic (the config schema) and the server stack: off `llmgate eval --help`
    import uvicorn

    from llmgate.server.app import Settings, create_app

    llmgate = cfg.llmgate.model_copy(
        update={"recorder": cfg.llmgate.recorder.model_copy(update={"process": False}), "eval_schedules": []}
    )
    quiet = cfg.model_copy(update={"llmgate": llmgate})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(Settings(config_path=config_path, port=port, log_level="warning"), quiet),
            lifespan="on",
            log_level="warning",
            access_log=False,
            log_config=None,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="eval-gateway")
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                fail("the in-process gateway did not start (see the log above)", code=1)
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
