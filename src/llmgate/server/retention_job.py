"""The retention job of ``llmgate serve``: ``store/prune.py`` every ``llmgate.retention.interval``.

One process prunes a store, elected as the canary controller is (``canary/leader.py``): through a
Redis key (``llmgate:retention:leader:<store>``) when the config shares state through Redis, so one
replica of many prunes; else through ``retention.lock`` in the spill directory, one process per
host. ``llmgate serve`` starts the job beside uvicorn (in the supervising process with
``--workers N``): it runs in a thread of its own, never on the event loop, and a gateway that keeps
everything forever (the default) starts none at all. The first prune comes ``FIRST_DELAY_S`` after
start, once the schema is migrated and the gateway warm.

Errors are logged once, as one line (``store/db.describe_error``), and again only when they change;
a run that works again after a failure says so. The first run blanks bodies from the oldest row;
later ones only from the previous run's cutoff (``db prune`` always looks at every row).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from llmgate.canary.leader import FileLeadership, Leadership, RedisLeadership

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmgate.config import GatewayConfig
    from llmgate.config.retention_settings import RetentionSettings

__all__ = ["LEADER_KEY", "LOCK_NAME", "RetentionJob", "retention_job"]

log = logging.getLogger("llmgate.retention")

LEADER_KEY = "llmgate:retention:leader"
LOCK_NAME = "retention.lock"
ROLE = "retention job"
#: the first prune waits this long after start: the schema is migrated and the gateway warmed first
FIRST_DELAY_S = 30.0


class RetentionJob:
    """Prunes ``database_url`` every ``settings.interval`` while this process leads."""

    def __init__(
        self,
        database_url: str,
        settings: RetentionSettings,
        leadership: Leadership,
        *,
        first_delay_s: float = FIRST_DELAY_S,
    ) -> None:
        self._url, self._settings, self._leadership = database_url, settings, leadership
        self._first_delay_s = first_delay_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._bodies_from: datetime | None = None
        self._last_error: str | None = None
        self.runs = 0  # prunes this process ran (it led at those ticks)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="llmgate-retention", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop between two batches and give the lead up (a prune never stops mid-batch)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        asyncio.run(self._main())  # the leadership's API is async (Redis); this loop is the thread's own

    async def _main(self) -> None:
        try:
            self._stopping.wait(self._first_delay_s)
            while not self._stopping.is_set():
                if await self._leadership.acquire():
                    self.prune_once()
                self._stopping.wait(self._settings.interval.total_seconds())
        finally:
            await self._leadership.release()
            if self._engine is not None:
                self._engine.dispose()

    def prune_once(self) -> None:
        """One prune, its outcome logged as one line."""
        # SQLAlchemy (the store): loaded by this thread, only when retention prunes something
        from llmgate.store.db import create_engine_for, describe_error
        from llmgate.store.prune import prune

        try:
            if self._engine is None:
                self._engine = create_engine_for(self._url)
            results = prune(
                self._engine, self._settings, stop=self._stopping.is_set, bodies_from=self._bodies_from
            )
        except Exception as exc:  # the store down, or anything else: one line, and the job lives on
            problem = describe_error(exc)
            if problem != self._last_error:
                log.warning("retention: prune failed (%s); trying again in the next interval", problem)
            self._last_error = problem
            return
        self.runs += 1
        if self._last_error is not None:
            log.info("retention: prune works again")
            self._last_error = None
        bodies = [r.cutoff for r in results if r.what == "bodies" and r.table == "requests"]
        if bodies and not self._stopping.is_set():
            self._bodies_from = bodies[0]
        done = [r.line() for r in results if r.count]
        if done:
            log.info("retention: %s", "; ".join(done))


def retention_job(config: GatewayConfig, *, first_delay_s: float = FIRST_DELAY_S) -> RetentionJob | None:
    """The job ``config`` asks for, not started; None when ``llmgate.retention`` keeps everything."""
    s = config.llmgate
    if not s.retention.prunes or s.database_url is None:
        return None
    leadership: Leadership
    redis_url = config.routing.redis_url
    if redis_url:  # one leader per store: gateways of other stores may share this Redis
        store = hashlib.sha256(s.database_url.encode()).hexdigest()[:12]
        ttl_s = max(60.0, 3 * s.retention.interval.total_seconds())
        leadership = RedisLeadership(redis_url, ttl_s=ttl_s, key=f"{LEADER_KEY}:{store}", role=ROLE)
    else:
        leadership = FileLeadership(Path(s.spill_dir or ".llmgate-spill") / LOCK_NAME, role=ROLE)
    return RetentionJob(s.database_url, s.retention, leadership, first_delay_s=first_delay_s)
