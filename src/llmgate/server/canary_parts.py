"""Canary releases in a gateway process: the split's follower and the controller, built and run.

``CanaryParts`` is what ``server/builders.py`` ``build_canaries`` gives the app: the follower
(``canary/state.py``: every process routes the store's split) starts with the lifespan; the
controller (``canary/controller.py``: every process competes for the lead, one decides) is built in
a thread (numpy, the gates' statistics, stays off the gateway's start-up) with the parts ``canary``
may not import itself: the eval gate's runner and the drift test (``server/canary_eval.py``), the
alert sinks, and the leader election (Redis when ``router_settings`` has it, on
``llmgate:canary:leader:<hash of the store's URL>`` so that gateways of another store sharing the
Redis elect their own leader; else a lock file in the spill directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmgate.canary.state import CanaryFollower
from llmgate.config import GatewayConfig
from llmgate.routing import Router
from llmgate.routing.canaries import CanaryTable
from llmgate.telemetry.alerts import sinks_from_config

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmgate.canary.controller import CanaryController
    from llmgate.server.app import Settings

__all__ = ["CanaryParts"]

log = logging.getLogger("llmgate.server")


class CanaryParts:
    """Canary releases in this process: the follower of the split (every process) and the
    controller (every process; one leader decides). ``start`` and ``stop`` are the lifespan's."""

    def __init__(
        self,
        settings: Settings,
        config: GatewayConfig,
        router: Router,
        table: CanaryTable,
        engine: Callable[[], Engine],
        ask: Callable[[str], Awaitable[Any]] | None = None,
    ) -> None:
        self._settings, self._config, self._engine = settings, config, engine
        self.follower = CanaryFollower(table, router, engine, config.routing.redis_url, ask=ask)
        self.follower.on_active = self._activate
        self.controller: CanaryController | None = None
        self._starting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Follow the split now; the controller once there is a canary to decide on: at once for the
        config's canaries, else when the follower first sees a running one (a gateway that never
        runs a canary never loads the controller, numpy or, with a writer process, the store)."""
        self.follower.start()
        if self._config.llmgate.canaries:
            self._activate()

    def _activate(self) -> None:
        if self._starting is None:
            self._starting = asyncio.create_task(
                self._start_controller(), name="llmgate-canary-controller-start"
            )

    async def _start_controller(self) -> None:
        try:
            self.controller = await asyncio.to_thread(self._build_controller)
        except Exception:  # the split is still followed; only this process's decisions are off
            log.exception("the canary controller could not be built; this process follows only")
            return
        self.controller.start()

    def _build_controller(self) -> CanaryController:
        # numpy (the gates), the eval and drift seams: loaded in a thread, off the gateway's start-up
        from llmgate.canary.controller import CanaryController
        from llmgate.canary.leader import LEADER_KEY, FileLeadership, Leadership, RedisLeadership
        from llmgate.evals.scheduler import local_base_url
        from llmgate.server.canary_eval import HttpEvalGateRunner, drift_test

        config, s = self._config, self._config.llmgate
        interval = s.canary_controller.interval_s
        redis_url = config.routing.redis_url
        leadership: Leadership
        if redis_url:  # one leader per store: gateways of other stores may share this Redis
            store = hashlib.sha256(str(s.database_url).encode()).hexdigest()[:12]
            leadership = RedisLeadership(redis_url, ttl_s=max(5.0, 3 * interval), key=f"{LEADER_KEY}:{store}")
        else:
            leadership = FileLeadership(Path(s.spill_dir or ".llmgate-spill") / "canary-controller.lock")
        monitors = s.monitors

        def monitored(model: str) -> bool:  # this config's monitor child samples the model's requests
            return monitors.enabled and monitors.sample_rates.get(model, monitors.sample_rate) > 0

        master = config.general_settings.master_key
        runner = HttpEvalGateRunner(
            local_base_url(self._settings.host, self._settings.port),
            master.get_secret_value() if master else "llmgate",
            config,
        )
        return CanaryController(
            self._engine,
            leadership,
            canaries=s.canaries,
            interval_s=interval,
            sinks=sinks_from_config(s.alerts),
            eval_runner=runner,
            drift=drift_test(config),
            redis_url=redis_url,
            on_change=self.follower.wake,
            monitored=monitored,
            lookback_s=config.routing.request_timeout + 5.0,  # no call is recorded later than that
        )

    async def stop(self) -> None:
        if self._starting is not None:
            with contextlib.suppress(BaseException):
                await self._starting  # a thread cannot be cancelled: let the build finish
        if self.controller is not None:
            await self.controller.stop()
        await self.follower.stop()
