"""Building the ASGI application: ``create_app(settings, config, *, overrides)`` and its lifespan.

Nothing is created at import time. ``create_app`` wires the parts together; the lifespan
opens them (store and migrations, recorder, provider clients) and closes them in reverse,
draining the recorder so no record is lost at shutdown. Tests build their own apps and may
swap parts through ``Overrides``.

Requests for the OpenAI routes and health probes go straight to lean ASGI handlers; every
other path (the admin API, its OpenAPI schema) goes to a FastAPI app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmgate.config import GatewayConfig, build_deployments, load_config
from llmgate.errors import LlmgateError
from llmgate.gateway import Gateway
from llmgate.heap import freeze_start_up
from llmgate.pricing import PriceBook
from llmgate.pricing.prices import load_pricing_file
from llmgate.providers.base import Provider
from llmgate.recording.recorder import Recorder
from llmgate.recording.writer_process import RecorderProcess
from llmgate.server.builders import (
    bounded,
    build_adapters,
    build_admin,
    build_canaries,
    build_enforcer,
    build_keys,
    build_monitor,
    build_observer,
    build_providers,
    build_recorder,
    build_response_cache,
    build_responses,
    build_router,
    build_scheduler,
    in_memory_store,
)
from llmgate.server.direct import DirectProxy
from llmgate.server.http import (
    Receive,
    Scope,
    Send,
    repeated_credential,
    repeated_credential_body,
    send_reply,
)
from llmgate.server.monitor_process import MonitorProcess
from llmgate.server.routes import anthropic as anthropic_routes
from llmgate.server.routes import feedback as feedback_routes
from llmgate.server.routes import openai as openai_routes
from llmgate.server.routes import responses as responses_routes
from llmgate.telemetry.metrics import CallMetrics, SharedTotals
from llmgate.telemetry.otel_settings import OtelSettings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from llmgate.evals.scheduler import EvalScheduler
    from llmgate.store.records import StoreWriter
    from llmgate.telemetry.tracing import Tracing

log = logging.getLogger("llmgate.server")

#: The recorder's writer thread and the event loop share the GIL; with CPython's default 5 ms
#: switch interval a batch insert can hold a request for 5 ms at a time. 0.5 ms took the p99
#: added latency at concurrency 1 from ~17.7 ms to ~5 ms (benchmarks/RESULTS.md).
SWITCH_INTERVAL_S = 0.0005

#: set by ``llmgate serve --workers N``: where the workers share their metric totals
METRICS_DIR_ENV = "LLMGATE_METRICS_DIR"
PUBLISH_INTERVAL_S = 5.0


def tune_process() -> None:
    """Process-wide settings for serving, applied once the app is built (before requests)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    freeze_start_up()  # start-up objects live as long as the process: never traverse them again


@dataclass(frozen=True, slots=True)
class Settings:
    """How this process serves (from the CLI), as opposed to what it serves (the config)."""

    config_path: str | None = None
    host: str = "127.0.0.1"
    port: int = 4000
    workers: int = 1
    log_level: str = "info"


@dataclass(slots=True)
class Overrides:
    """Parts tests may replace: providers by kind, the recorder's store writer, and the
    OpenTelemetry exporters (a ``Tracing`` with in-memory ones; it records in-process)."""

    providers: Mapping[str, Provider] = field(default_factory=dict)
    write: Callable[[list[dict[str, Any]]], None] | None = None
    tracing: Tracing | None = None


class AppState:
    """Everything one app instance owns; opened and closed by the lifespan."""

    def __init__(self, settings: Settings, config: GatewayConfig, overrides: Overrides) -> None:
        self.settings = settings
        self.config = config
        self.started_at = int(time.time())
        self.loop: asyncio.AbstractEventLoop | None = None
        self._warm: list[asyncio.Task[object]] = []
        assert config.llmgate.database_url is not None and config.llmgate.spill_dir is not None
        self.database_url = config.llmgate.database_url
        self._engine: Engine | None = None
        self._store_writer: StoreWriter | None = None
        self.scheduler: EvalScheduler | None = None  # llmgate.eval_schedules, started in open()
        self.monitor: MonitorProcess | None = None  # llmgate.monitors.enabled, started in open()
        pricing_file = config.llmgate.pricing_file
        price_overrides = load_pricing_file(pricing_file) if pricing_file else None
        self.prices = PriceBook(overrides=price_overrides)
        # traffic metrics for GET /metrics: observed where rows are made, merged here
        self.metrics = CallMetrics()
        self.otel = OtelSettings.from_config(config.llmgate)
        separate = not (overrides.write or overrides.tracing or in_memory_store(self.database_url))
        use_writer = config.llmgate.recorder.process and separate
        self.observer = build_observer(
            self.prices, self.metrics, self.otel, use_writer=use_writer, tracing=overrides.tracing
        )
        self.metrics_endpoint: Any = None  # server/routes/metrics.py, made on the first scrape
        # `llmgate serve --workers N`: each worker publishes its totals, a scrape sums them all
        shared_dir = os.environ.get(METRICS_DIR_ENV)
        self.shared_totals = SharedTotals(Path(shared_dir), self.metrics) if shared_dir else None
        self._publish: asyncio.Task[None] | None = None
        self.recorder = build_recorder(
            config,
            log_level=settings.log_level,
            prices=self.prices,
            price_overrides=price_overrides,
            observer=self.observer,
            otel=self.otel,
            metrics=self.metrics,
            write=overrides.write or self._write,
            probe=self._ping_store,
            engine=lambda: self.engine,
            use_writer=use_writer,
        )
        deployments = build_deployments(config)
        providers = build_providers(config, deployments, overrides.providers)
        self.providers, self._warmers = providers.by_kind, providers.warm
        self.router, self.shared, self.canaries = build_router(config, deployments, providers.serve)
        # canary releases: the split followed from the store, decided by one leader (canary/)
        self.canary_parts = build_canaries(
            settings, config, self.router, self.canaries, lambda: self.engine, self.recorder
        )
        self.registry, self.authenticator = build_keys(config, self.prices, self.metrics, lambda: self.engine)
        self.responses = build_responses(  # the Responses API's kept responses (apis/responses_service.py)
            lambda: self.router.deployments, providers.by_deployment, self.authenticator, lambda: self.engine
        )
        self.adapters = build_adapters(config, responses=self.responses)  # one API to a deployment of another
        self.limits, self.enforcer = build_enforcer(config, self._stored_spend, self.registry.user)
        self.cache = build_response_cache(config, self.router, self.metrics, self._warmers)  # or None: off
        self.gateway = Gateway(
            config,
            router=self.router,
            providers=providers.by_deployment,
            authenticator=self.authenticator,
            submit=self.recorder.submit,
            enforcer=self.enforcer,
            prices=self.prices,
            metrics=self.metrics,  # llmgate_auth_failures_total, counted where no record is made
            adapters=self.adapters,
            cache=self.cache,
            canaries=self.canaries,
        )

    async def _stored_spend(self, scope: str, owner: str, since: datetime) -> Decimal:
        # SQLAlchemy and the store load only when this process itself reads or writes the store
        from llmgate.store.rollup_reads import period_spend

        totals = await asyncio.to_thread(period_spend, self.engine, scope, since)
        return totals.get(owner, Decimal(0))

    # The store is opened on first use. With a writer process the gateway itself never needs it
    # (nor SQLAlchemy, which is most of a second of start-up and tens of MB).

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from llmgate.store.db import create_engine_for  # SQLAlchemy: only once the store is used

            self._engine = create_engine_for(self.database_url)
        return self._engine

    @property
    def store_writer(self) -> StoreWriter:
        if self._store_writer is None:
            from llmgate.store.records import StoreWriter  # SQLAlchemy: only once the store is used

            self._store_writer = StoreWriter(self.engine, self.config.llmgate.time_zone)
        return self._store_writer

    def _write(self, rows: list[dict[str, Any]]) -> None:
        self.store_writer(rows)

    def _ping_store(self) -> None:
        from llmgate.store.db import ping  # SQLAlchemy: only once the store is used

        ping(self.engine)

    async def check_store(self) -> None:
        """One round trip to the store (through the writer process when there is one)."""
        if isinstance(self.recorder, RecorderProcess):
            await self.recorder.ping()
            return
        from llmgate.store.db import ping  # SQLAlchemy: only once the store is used

        await asyncio.to_thread(ping, self.engine)

    async def open(self) -> None:
        self.loop = asyncio.get_running_loop()
        # keys need a master key: load them beside the rest of the start, ready for the first request
        keys = self.config.general_settings.master_key is not None
        warming = asyncio.create_task(self.registry.warm()) if keys else None
        # The schema is brought up to date in the background (by the writer process when there is
        # one): the gateway serves at once, and records wait until the store is ready.
        self._schema = None
        if isinstance(self.recorder, Recorder):
            self._schema = asyncio.create_task(self._ensure_schema())
        await self.recorder.start()
        if self.shared is not None:
            await self.shared.start()
        if isinstance(self.recorder, Recorder):
            # Read the price map now, off the request path, rather than on the first record.
            await asyncio.to_thread(self.prices.warm)
        # what a provider loads slowly (litellm: seconds) loads in the background now, not on the first call
        self._warm = [asyncio.create_task(warm()) for warm in self._warmers]
        if self.config.llmgate.eval_schedules:
            self.scheduler = build_scheduler(self.settings, self.config, lambda: self.engine)
            self.scheduler.start()
        if self.config.llmgate.monitors.enabled:
            self.monitor = build_monitor(self.settings, self.config)
            if self.monitor is not None:
                self.monitor.start()
        if self.shared_totals is not None:
            self._publish = asyncio.create_task(self._publish_totals())
        await self.canary_parts.start()
        if warming is not None:
            await warming

    async def _publish_totals(self) -> None:
        assert self.shared_totals is not None
        while True:
            await asyncio.sleep(PUBLISH_INTERVAL_S)
            try:
                await asyncio.to_thread(self.shared_totals.publish)
            except OSError as exc:
                log.warning("could not publish this worker's metrics: %s", exc)

    async def _ensure_schema(self) -> None:
        try:
            await asyncio.to_thread(self.store_writer.ensure_schema)
            log.info("store ready (%s, schema up to date)", self.engine.dialect.name)
        except Exception as exc:  # the store may be down: serve anyway, spill records
            message = exc.message if isinstance(exc, LlmgateError) else type(exc).__name__
            log.warning("store unavailable at start (%s); records spill to disk until it is back", message)

    async def close(self) -> None:
        await bounded(self.canary_parts.stop(), "stopping the canaries")
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.monitor is not None:
            await self.monitor.stop()
        if self._schema is not None and not self._schema.done():
            self._schema.cancel()
        for task in self._warm:
            if not task.done():
                task.cancel()
        # Each part gets a bounded time (the recorder bounds its own drain), so one that hangs (a
        # dead Redis, a half-started connection) cannot keep the process from exiting on SIGTERM.
        for kind, provider in self.providers.items():
            await bounded(provider.aclose(), f"closing the {kind} provider")
        await bounded(self.adapters.aclose(), "closing the API adapters")
        if self.cache is not None:  # after the last request: its stores in flight finish first
            await bounded(self.cache.close(), "closing the response cache")
        if self.shared is not None:
            await bounded(self.shared.stop(), "stopping the shared cooldowns")
        await bounded(self.registry.close(), "closing the key registry")
        await bounded(self.enforcer.drain(), "settling budgets in flight")
        await bounded(self.limits.close(), "closing the rate limits")
        await self.recorder.stop()
        if self._publish is not None:
            self._publish.cancel()
        if self.shared_totals is not None:  # the last totals, counted by the workers still up
            with contextlib.suppress(OSError):
                self.shared_totals.publish()
        await bounded(asyncio.to_thread(self.observer.shutdown), "exporting the last spans")
        if self._engine is not None:
            self._engine.dispose()


class LlmgateApp:
    """The ASGI entry point: lean routes first, FastAPI for the rest, and the lifespan.

    The FastAPI app (admin API, OpenAPI schema) is built on the first request that needs it, in
    a thread: FastAPI is about half a second of start-up that the proxy routes do not need.
    """

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.direct = DirectProxy(state)  # the proxy routes' POSTs, from the edge protocol (direct.py)
        self._admin: FastAPI | None = None
        self._admin_lock = asyncio.Lock()

    @property
    def admin(self) -> FastAPI:
        if self._admin is None:
            self._admin = build_admin(self.state)
        return self._admin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (repeated := repeated_credential(scope["headers"])) is not None:
            # one rule on every surface: which of two keys would count is ambiguous
            await send_reply(send, 400, repeated_credential_body(repeated), "application/json", {})
        elif scope["type"] == "http" and openai_routes.handles(scope["path"]):
            await openai_routes.dispatch(self.state, scope, receive, send)
        elif scope["type"] == "http" and scope["path"] in anthropic_routes.ENDPOINTS:
            await anthropic_routes.messages(self.state, scope, receive, send)
        elif scope["type"] == "http" and responses_routes.handles(scope["path"]):
            await responses_routes.dispatch(self.state, scope, receive, send)
        elif scope["type"] == "http" and feedback_routes.handles(scope["path"]):
            await feedback_routes.dispatch(self.state, scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            if self._admin is None:
                async with self._admin_lock:
                    if self._admin is None:
                        self._admin = await asyncio.to_thread(build_admin, self.state)
            await self._admin(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.state.open()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.state.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(
    settings: Settings, config: GatewayConfig, *, overrides: Overrides | None = None
) -> LlmgateApp:
    return LlmgateApp(AppState(settings, config, overrides or Overrides()))


def create_app_from_env() -> LlmgateApp:
    """Factory for ``uvicorn --factory`` and multi-worker serving: config from ``LLMGATE_CONFIG``."""
    path = os.environ.get("LLMGATE_CONFIG")
    settings = Settings(
        config_path=path,
        host=os.environ.get("LLMGATE_HOST", "127.0.0.1"),
        port=int(os.environ.get("LLMGATE_PORT", "4000")),
        workers=int(os.environ.get("LLMGATE_WORKERS", "2")),
        log_level=os.environ.get("LLMGATE_LOG_LEVEL", "info"),
    )
    app = create_app(settings, load_config(path))
    tune_process()  # in each worker process, as `llmgate serve` does
    return app
