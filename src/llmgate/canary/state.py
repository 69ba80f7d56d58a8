"""Every replica routes the same split: the canary table followed from the store (and Redis).

``CanaryFollower`` keeps a gateway's ``CanaryTable`` (``routing/canaries.py``) equal to the store's
canaries. Every ``poll_s`` (0.5 s) it asks the store for ``active_version`` (a cheap probe that
moves with every change to a canary; the controller's routine saves of its evaluation do not move
it); when it moved, it reads the canaries, resolves each candidate's model group
(``register_candidate``: another group, or a variant group ``canary:<id>`` made on the router) and
replaces the table whole. With Redis configured (``router_settings.redis_url``) it also listens on
``llmgate:canary:changed`` and re-reads at once when anything is published there: ``publish``
(``channel.py``: after every change, by the actions and the controller) makes a rollback reach
every replica within one round trip, and the poll is the safety net when Redis is away.

What the table holds, per model: the newest running or paused canary; else the newest promoted one,
unless a newer canary on that model has ended since (then the model is back to its configured
deployments). A promoted canary routes all traffic to its candidate (``promoted=True``): once its
export (``llmgate canary export``) is committed, the candidate is the model's own deployments and
the route changes nothing (a candidate that this config no longer has routes nothing, with one
warning). Rolled back and cancelled canaries route nothing: 0 % to the candidate.

A store or Redis that is away never reaches a request: the table stays as it was, a warning is
logged once the store has failed for ``WARN_AFTER_S`` (at start-up it may still be being made),
and the next poll tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from llmgate.canary.channel import CHANNEL, SOCKET_TIMEOUT_S, apublish, publish
from llmgate.config.canary_settings import CandidateSpec
from llmgate.protocol.redact import redact_text
from llmgate.routing.canaries import CanaryRoute, CanaryTable, register_candidate

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmgate.routing import Router
    from llmgate.store.canaries import CanaryRow

__all__ = ["CHANNEL", "POLL_S", "CanaryFollower", "apublish", "publish", "routes_from"]

log = logging.getLogger("llmgate.canary")

#: how often the store is probed for a change
POLL_S = 0.5
#: how long the store may fail before a warning (at start-up it may still be being made)
WARN_AFTER_S = 5.0
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
ACTIVE = ("running", "paused")


def _describe(exc: BaseException) -> str:
    return redact_text(str(exc).splitlines()[0][:200]) if str(exc) else type(exc).__name__


def routes_from(rows: Iterable[CanaryRow]) -> list[CanaryRow]:
    """The canaries that route traffic, one per model (see the module doc), newest first."""
    newest: dict[str, CanaryRow] = {}
    ended: dict[str, CanaryRow] = {}
    for row in sorted(rows, key=lambda r: (r.started_at, r.id), reverse=True):
        if row.status in ACTIVE:
            newest.setdefault(row.model, row)
        elif row.model not in ended:
            ended[row.model] = row
    for model, row in ended.items():
        if model not in newest and row.status == "promoted":
            newest[model] = row
    return list(newest.values())


class CanaryFollower:
    """Keeps ``table`` equal to the store's canaries (see the module doc)."""

    def __init__(
        self,
        table: CanaryTable,
        router: Router,
        engine_factory: Callable[[], Engine],
        redis_url: str | None = None,
        *,
        poll_s: float = POLL_S,
        ask: Callable[[str], Awaitable[Any]] | None = None,
    ) -> None:
        self.table = table
        #: the store's reads by name ("canary_version", "canaries"), answered by the record writer
        #: process (``recording/writer_child.py`` QUERIES), so this process never opens the store
        #: itself; None: read the store in a thread
        self._ask = ask
        #: called when the store holds a running or paused canary (``server/canary_parts.py``
        #: starts the controller then: a gateway without canaries never loads it)
        self.on_active: Callable[[], None] | None = None
        self._router = router
        self._engine_factory = engine_factory
        self._redis_url = redis_url
        self._poll_s = poll_s
        self._version: int | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._groups: set[str] = set()  # variant groups this follower made on the router
        self._unresolved: set[str] = set()  # canaries whose candidate is unknown here (warned once)
        self._failing_since: float | None = None
        self._warned = False
        self.refreshes = 0  # how many times the table was replaced
        self.subscribed = False  # listening on CHANNEL (Redis)

    def start(self) -> None:
        """Follow the store in the background (the first read at once) and, with Redis, the channel."""
        self._tasks.append(asyncio.create_task(self._loop(), name="llmgate-canary-follower"))
        if self._redis_url:
            self._tasks.append(asyncio.create_task(self._listen(self._redis_url), name="llmgate-canary-sub"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def wake(self) -> None:
        """Re-read at once (this process changed a canary). Call it on the event loop."""
        self._wake.set()

    async def refresh(self, *, force: bool = False) -> bool:
        """Re-read the canaries if they changed (or ``force``); True when the table was replaced."""
        ask = self._ask
        version = await ask("canary_version") if ask is not None else await asyncio.to_thread(self._probe)
        if not force and version == self._version:
            return False
        rows = routes_from(await ask("canaries")) if ask is not None else await asyncio.to_thread(self._read)
        routes = self._routes(rows)
        self.table.replace(routes)
        if self.on_active is not None and any(not route.promoted for route in routes):
            self.on_active()
        self._version = version
        self.refreshes += 1
        return True

    async def _tick(self, *, force: bool) -> bool:
        """One refresh; never raises (whether it worked). A store still being made at start-up
        is not worth a warning: one comes after ``WARN_AFTER_S`` of failures."""
        try:
            await self.refresh(force=force)
        except Exception as exc:
            now = time.monotonic()
            if self._failing_since is None:
                self._failing_since = now
            if not self._warned and now - self._failing_since >= WARN_AFTER_S:
                log.warning(
                    "canary follower: cannot read the canaries (%s); keeping the split", _describe(exc)
                )
                self._warned = True
            return False
        if self._warned:
            log.info("canary follower: reading the canaries again")
        self._failing_since, self._warned = None, False
        return True

    async def _loop(self) -> None:
        force = True
        while True:
            if not await self._tick(force=force) and force:
                self._wake.set()  # forced, and failed: forced again next time
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()
            force = self._wake.is_set()
            self._wake.clear()

    async def _listen(self, url: str) -> None:
        # redis: only when the config shares state through Redis
        import redis.asyncio as aioredis

        client: Any = aioredis.from_url(
            url, socket_timeout=None, socket_connect_timeout=SOCKET_TIMEOUT_S, health_check_interval=10
        )
        wait = RETRY_MIN_S
        try:
            while True:
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                try:
                    await pubsub.subscribe(CHANNEL)
                    self.subscribed, wait = True, RETRY_MIN_S
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None and message.get("type") == "message":
                            self._wake.set()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # Redis away: the poll goes on; subscribe again later
                    self.subscribed = False
                    log.warning("canary follower: Redis subscription failed (%s); retrying", _describe(exc))
                finally:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                await asyncio.sleep(wait)
                wait = min(RETRY_MAX_S, wait * 2)
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()

    # --- the store (in a thread) ------------------------------------------------------------------

    def _probe(self) -> int:
        # SQLAlchemy (the store): loaded in this thread, off the gateway's start-up
        from llmgate.store.canaries import active_version

        return active_version(self._engine_factory())

    def _read(self) -> list[CanaryRow]:
        # SQLAlchemy (the store): loaded in this thread, off the gateway's start-up
        from llmgate.store.canaries import list_canaries

        return routes_from(list_canaries(self._engine_factory()))

    # --- the table (on the loop: the router is changed here only) ----------------------------------

    def _routes(self, rows: list[CanaryRow]) -> list[CanaryRoute]:
        routes: list[CanaryRoute] = []
        groups: set[str] = set()
        for row in rows:
            try:
                group = register_candidate(
                    self._router, row.id, row.model, CandidateSpec.model_validate(row.candidate)
                )
            except Exception as exc:  # a candidate this config does not know: that canary routes nothing
                if row.id not in self._unresolved:
                    log.warning("canary %s: its candidate cannot be routed here (%s)", row.id, _describe(exc))
                    self._unresolved.add(row.id)
                continue
            self._unresolved.discard(row.id)
            if group.startswith("canary:"):
                groups.add(group)
            promoted = row.status == "promoted"
            routes.append(
                CanaryRoute(
                    canary_id=row.id,
                    model=row.model,
                    candidate_model=group,
                    percent=100.0 if promoted else float(row.percent),
                    sticky=row.sticky,
                    promoted=promoted,
                )
            )
        for gone in self._groups - groups:  # a variant group of a canary that ended
            self._router.remove_group(gone)
        self._groups = groups
        return routes
