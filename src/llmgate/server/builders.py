"""The composition root's parts: one small builder for each thing an app owns.

``AppState.__init__`` (``app.py``) calls these in order and keeps what they return; nothing here
opens a connection or starts a task (the lifespan does). Each builder takes only what its part
needs, the app's own callbacks included (``write``, ``probe``, ``engine``), so it can be read, and
changed, on its own: the recorder (in-process or a writer process), the providers (asked of
``providers/registry.py``, never named here), routing and its health, keys, limits and budgets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmgate.apis import embeddings, messages
from llmgate.apis.messages_translated import TokenCounter
from llmgate.apis.registry import Adapters
from llmgate.apis.responses_choice import responses_chooser
from llmgate.apis.responses_memory import ResponseMemory
from llmgate.apis.responses_service import ResponsesService
from llmgate.auth import Authenticator
from llmgate.auth.enforce import Enforcer
from llmgate.auth.keys import api_key_header
from llmgate.auth.limits import Limits, LocalLimits, RedisLimits
from llmgate.auth.registry import KeyRegistry
from llmgate.cache.build import build_cache
from llmgate.cache.service import ResponseCache
from llmgate.config import Deployment, GatewayConfig
from llmgate.pricing import PriceBook
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.anthropic_native import AnthropicNative
from llmgate.providers.base import Provider
from llmgate.providers.registry import kind_name, kinds_for
from llmgate.recording.degrade import DegradedAlerts, degraded_call_row, degraded_row
from llmgate.recording.recorder import Recorder
from llmgate.recording.writer_process import RecorderProcess, WriterSettings
from llmgate.routing import Router
from llmgate.routing.canaries import CanaryTable
from llmgate.routing.health import Health
from llmgate.server.canary_parts import CanaryParts
from llmgate.server.monitor_process import MonitorProcess
from llmgate.server.routes import routers
from llmgate.telemetry import tokens
from llmgate.telemetry.alerts import sinks_from_config
from llmgate.telemetry.metrics import CallMetrics
from llmgate.telemetry.observe import Observer
from llmgate.telemetry.otel_settings import OtelSettings
from llmgate.version import __version__

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from llmgate.evals.scheduler import EvalScheduler
    from llmgate.routing.shared import SharedHealth
    from llmgate.server.app import AppState, Settings
    from llmgate.store.users import UserRow
    from llmgate.telemetry.tracing import Tracing

#: the server's log (the same logger as app.py's)
log = logging.getLogger("llmgate.server")
#: the longest any one part may take to close at shutdown (the recorder bounds its own drain)
CLOSE_STEP_S = 5.0


async def bounded(step: Awaitable[object], what: str, timeout: float = CLOSE_STEP_S) -> None:
    """Await one shutdown step for at most ``timeout`` seconds; log, never raise, if it fails."""
    try:
        await asyncio.wait_for(step, timeout)
    except TimeoutError:
        log.warning("shutdown: %s took more than %.0f s; going on without it", what, timeout)
    except Exception:  # closing must go on for the other parts
        log.exception("shutdown: %s failed", what)


def in_memory_store(database_url: str) -> bool:
    """An in-memory SQLite store lives in this process: no writer process can share it."""
    return database_url.startswith("sqlite://") and (
        database_url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in database_url
    )


def build_observer(
    prices: PriceBook, metrics: CallMetrics, otel: OtelSettings, *, use_writer: bool, tracing: Tracing | None
) -> Observer:
    """Rows, metrics and traces of the records this process turns into rows itself.

    With a writer process the spans are its work; records this process takes over when the writer
    is down or behind are stored and counted but not traced, so an overloaded gateway is never
    handed the exporter's CPU as well."""
    return Observer(prices, metrics, OtelSettings() if use_writer else otel, tracing=tracing)


def build_recorder(
    config: GatewayConfig,
    *,
    log_level: str,
    prices: PriceBook,
    price_overrides: dict[str, dict[str, Decimal]] | None,
    observer: Observer,
    otel: OtelSettings,
    metrics: CallMetrics,
    write: Callable[[list[dict[str, Any]]], None],
    probe: Callable[[], None],
    engine: Callable[[], Engine],
    use_writer: bool,
) -> Recorder | RecorderProcess:
    """The in-process recorder, fronted by a writer process when ``use_writer``; the in-process one
    is then the writer's fallback."""
    s = config.llmgate
    assert s.database_url is not None and s.spill_dir is not None
    inline = Recorder(
        write,
        Path(s.spill_dir),
        prepare=observer.prepare,
        # a record that cannot be stored as it is: stored degraded, counted, alerted
        salvage=lambda call, reason: degraded_call_row(call, prices, reason),
        degrade=degraded_row,
        on_degraded=DegradedAlerts(sinks_from_config(s.alerts), engine),
        probe=probe,
        queue_size=s.recorder.queue_size,
        batch_size=s.recorder.batch_size,
        flush_interval_s=s.recorder.flush_interval_s,
        retry_interval_s=s.recorder.retry_interval_s,
    )
    if not use_writer:
        return inline
    writer = WriterSettings(
        database_url=s.database_url,
        time_zone=s.time_zone,
        spill_dir=s.spill_dir,
        queue_size=s.recorder.queue_size,
        batch_size=s.recorder.batch_size,
        flush_interval_s=s.recorder.flush_interval_s,
        retry_interval_s=s.recorder.retry_interval_s,
        log_level=log_level,
        price_overrides=price_overrides,
        otel=otel,
        alerts=s.alerts,
    )
    return RecorderProcess(writer, fallback=inline, on_metrics=metrics.merge)


@dataclass(slots=True)
class Providers:
    """The providers an app built, by kind (closed at shutdown), and each deployment's."""

    by_kind: dict[str, Provider]
    by_deployment: dict[str, Provider]
    warm: list[Callable[[], Coroutine[Any, Any, object]]]

    def serve(self, deployment: Deployment) -> None:
        """Provide for a deployment made after start-up (a wildcard group's, for one model name)."""
        self.by_deployment[deployment.id] = self.by_kind[kind_name(deployment.provider)]


def build_responses(
    deployments: Callable[[], list[Deployment]],
    providers: Mapping[str, Provider],
    authenticator: Authenticator,
    engine: Callable[[], Engine],
) -> ResponsesService:
    """The Responses API's kept responses, and who owns one: the caller's key id, ``master``, or
    None on an open gateway (``apis/responses_service.py``)."""

    async def owner(headers: Mapping[str, str]) -> str | None:
        identity = await authenticator.aauthenticate(headers.get("authorization"), api_key_header(headers))
        return identity.key.id if identity.key is not None else identity.name

    return ResponsesService(ResponseMemory(engine), owner, deployments, providers)


def build_adapters(config: GatewayConfig, *, responses: ResponsesService | None = None) -> Adapters:
    """The API adapters (``apis/``): for each endpoint that has them, which deployments need one."""
    adapters = Adapters()
    if responses is not None:  # /v1/responses: passed through, or through chat (apis/responses_choice.py)
        adapters.register(Endpoint.RESPONSES, responses_chooser(responses.memory, responses.owner))
        adapters.on_close(responses.memory.close)  # writes the kept responses still queued
    adapters.register(Endpoint.EMBEDDINGS, embeddings.choose)  # base64 vectors, as the SDKs ask
    anthropic = AnthropicNative(pool_size=config.llmgate.upstream_pool_size)  # /v1/messages, passed through
    counter = TokenCounter(
        lambda model, chat: tokens.count_prompt(model, "chat/completions", chat), tokens.count_text
    )
    for endpoint, chooser in messages.choosers(anthropic, counter).items():
        adapters.register(endpoint, chooser)
    adapters.on_close(anthropic.aclose)
    return adapters


def build_providers(
    config: GatewayConfig, deployments: list[Deployment], overrides: Mapping[str, Provider]
) -> Providers:
    """One provider of each kind the deployments need (``overrides`` replace some, by kind)."""
    kinds = kinds_for(deployments)
    by_kind: dict[str, Provider] = {name: kind.build(config) for name, kind in kinds.items()}
    by_kind.update(overrides)
    by_deployment = {d.id: by_kind[kind_name(d.provider)] for d in deployments}
    return Providers(by_kind, by_deployment, [k.warm for k in kinds.values() if k.warm is not None])


def build_router(
    config: GatewayConfig, deployments: list[Deployment], on_new: Callable[[Deployment], None]
) -> tuple[Router, SharedHealth | None, CanaryTable]:
    """Selection over the deployments, with cooldowns shared through Redis when configured;
    ``on_new`` provides for the deployments made after start-up (a wildcard group's, a canary's
    candidate), and the canary table starts empty (filled by ``canary/state.py``'s follower)."""
    policy = config.routing
    health = Health(
        [d.id for d in deployments],
        allowed_fails=policy.allowed_fails,
        cooldown_time=policy.cooldown_time,
        enabled=policy.cooldowns,
    )
    router = Router(
        deployments,
        health=health,
        strategy=policy.strategy,
        fallbacks=policy.fallbacks,
        default_fallbacks=policy.default_fallbacks,
        context_window_fallbacks=policy.context_window_fallbacks,
        content_policy_fallbacks=policy.content_policy_fallbacks,
    )
    router.on_new_deployment = on_new
    shared: SharedHealth | None = None
    if policy.redis_url:  # the redis client is imported only when the config uses Redis
        from llmgate.routing.shared import SharedHealth

        shared = SharedHealth(health, policy.redis_url)
    return router, shared, CanaryTable()


def build_response_cache(
    config: GatewayConfig,
    router: Router,
    metrics: CallMetrics,
    warm: list[Callable[[], Coroutine[Any, Any, object]]],
) -> ResponseCache | None:
    """The response cache (``cache/``), or None when the config turns it on nowhere. Its semantic
    index is rebuilt at start in the background (``warm``), as slow providers load."""
    known: dict[str, Deployment] = {}

    def deployment(deployment_id: str) -> Deployment | None:  # the one that answered a cached call
        if deployment_id not in known:  # a wildcard group's deployments come and go
            known.clear()
            known.update((d.id, d) for d in router.deployments)
        return known.get(deployment_id)

    cache = build_cache(config, deployment=deployment, count=metrics.count)
    if cache is not None:
        warm.append(cache.start)
    return cache


def build_keys(
    config: GatewayConfig, prices: PriceBook, metrics: CallMetrics, engine: Callable[[], Engine]
) -> tuple[KeyRegistry, Authenticator]:
    """The key registry (read from the store) and the authenticator in front of it."""
    registry = KeyRegistry(engine, count=lambda result: metrics.count("llmgate_key_lookups_total", (result,)))
    registry.on_change(prices.warm)  # keys in use: prices will be needed for budgets
    master = config.general_settings.master_key
    return registry, Authenticator(master.get_secret_value() if master else None, registry)


def build_enforcer(
    config: GatewayConfig,
    stored_spend: Callable[[str, str, datetime], Awaitable[Decimal]],
    users: Callable[[str | None], UserRow | None] | None = None,
) -> tuple[Limits, Enforcer]:
    """Rate limits (in-process, or Redis for several replicas) and the budgets over them;
    ``users``: a key's internal user (``KeyRegistry.user``), for its budget and limits."""
    limits: Limits = RedisLimits(config.routing.redis_url) if config.routing.redis_url else LocalLimits()
    s = config.llmgate
    enforcer = Enforcer(
        limits,
        time_zone=s.time_zone,
        stored_spend=stored_spend,
        user_budget=(s.user_budget_usd, s.user_budget_period) if s.user_budget_usd is not None else None,
        users=users,
    )
    return limits, enforcer


def build_admin(state: AppState) -> FastAPI:
    # FastAPI loads only when the admin app is built (the first request outside /v1 and the health
    # probes): the gateway's own request path never needs it
    from fastapi import FastAPI

    from llmgate.server.errors import install_error_handlers

    # Swagger UI loads its scripts from a CDN: off unless llmgate.http.swagger_ui (the schema is
    # always at /openapi.json)
    docs = "/docs" if state.config.llmgate.http.swagger_ui else None
    admin = FastAPI(title="llmgate", version=__version__, docs_url=docs, redoc_url=None)
    admin.state.llmgate = state
    install_error_handlers(admin)
    for router in routers():
        admin.include_router(router)
    return admin


def build_monitor(settings: Settings, config: GatewayConfig) -> MonitorProcess | None:
    """``llmgate monitor`` beside the gateway, as a low-priority child process (not yet started)."""
    if settings.config_path is None:
        log.warning("llmgate.monitors.enabled needs a config file to hand the monitor; not started")
        return None
    assert config.llmgate.spill_dir is not None
    return MonitorProcess(
        str(Path(settings.config_path).resolve()),
        Path(config.llmgate.spill_dir),
        log_level=settings.log_level,
    )


def build_scheduler(settings: Settings, config: GatewayConfig, engine: Callable[[], Engine]) -> EvalScheduler:
    """The config's eval schedules against this gateway (not yet started); with several workers (or
    a ``llmgate scheduler`` on this host) a lock file in the spill directory elects one."""
    # croniter and the evals package load only when the config has eval schedules
    from llmgate.evals.scheduler import local_base_url, scheduler_from_config

    master = config.general_settings.master_key
    return scheduler_from_config(
        config,
        base_url=local_base_url(settings.host, settings.port),
        api_key=master.get_secret_value() if master else "llmgate",
        engine_factory=engine,
    )


def build_canaries(
    settings: Settings,
    config: GatewayConfig,
    router: Router,
    table: CanaryTable,
    engine: Callable[[], Engine],
    recorder: Recorder | RecorderProcess,
) -> CanaryParts:
    """Canary releases (``canary/``): the split's follower and the controller (not yet started).
    With a record writer process the follower reads the store through it (``RecorderProcess.ask``)."""
    ask = recorder.ask if isinstance(recorder, RecorderProcess) else None
    return CanaryParts(settings, config, router, table, engine, ask)
