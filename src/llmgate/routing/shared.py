"""Cooldowns and in-flight counts shared through Redis, so several gateway processes agree.

Nothing here is on the request path. When this process opens a circuit, the next sync writes
``llmgate:cooldown:<deployment>`` with the cooldown as its expiry (never shortening one that is
longer). Every ``interval_s`` one pipelined round trip also reads every deployment's cooldown key,
opening the local circuit of any deployment another process cooled down, and publishes this
process's in-flight counts (``llmgate:inflight:<deployment>``, one hash field per process, stamped
so the counts of a process that died are ignored after ``STALE_MS``) while reading the others'.
If Redis is unreachable, each process goes on with its own state: one warning, then one line
when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from llmgate.routing.health import Health

log = logging.getLogger("llmgate.routing.shared")

SYNC_INTERVAL_S = 0.2
STALE_MS = 3000
PREFIX = "llmgate"


def cooldown_key(deployment_id: str) -> str:
    return f"{PREFIX}:cooldown:{deployment_id}"


def inflight_key(deployment_id: str) -> str:
    return f"{PREFIX}:inflight:{deployment_id}"


class SharedHealth:
    def __init__(self, health: Health, url: str, *, interval_s: float = SYNC_INTERVAL_S) -> None:
        self._health = health
        self._deployments = list(health.local_in_flight())
        self._redis = aioredis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._interval = interval_s
        self._trips: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._down = False
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        health.on_trip = self._trip

    def _trip(self, deployment_id: str, seconds: float) -> None:
        self._trips[deployment_id] = max(seconds, self._trips.get(deployment_id, 0.0))
        self._wake.set()  # other processes should hear of it now, not at the next tick

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="llmgate-shared-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            async with self._redis.pipeline(transaction=False) as pipe:
                for deployment_id in self._deployments:
                    pipe.hdel(inflight_key(deployment_id), self.process_id)
                await pipe.execute()
        await self._redis.aclose()

    async def _loop(self) -> None:
        while True:
            try:
                await self.sync()
                if self._down:
                    self._down = False
                    log.info("Redis is back; sharing cooldowns again")
            except (RedisError, OSError) as exc:
                if not self._down:
                    self._down = True
                    log.warning("Redis unreachable (%s); cooldowns are per process until it is back", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()

    async def sync(self) -> None:
        """One round trip: publish our trips and in-flight counts, take in everyone else's."""
        trips, self._trips = self._trips, {}
        now_ms = int(time.time() * 1000)
        self._deployments = list(self._health.local_in_flight())  # and those made since (wildcards)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for deployment_id, seconds in trips.items():
                    ms = max(1, int(seconds * 1000))
                    pipe.set(cooldown_key(deployment_id), self.process_id, px=ms, nx=True)
                    pipe.pexpire(cooldown_key(deployment_id), ms, gt=True)
                for deployment_id, count in self._health.local_in_flight().items():
                    pipe.hset(inflight_key(deployment_id), self.process_id, f"{count}:{now_ms}")
                    pipe.pexpire(inflight_key(deployment_id), STALE_MS * 10)
                for deployment_id in self._deployments:
                    pipe.pttl(cooldown_key(deployment_id))
                for deployment_id in self._deployments:
                    pipe.hgetall(inflight_key(deployment_id))
                results = await pipe.execute()
        except BaseException:
            for deployment_id, seconds in trips.items():  # tell them next time
                self._trips[deployment_id] = max(seconds, self._trips.get(deployment_id, 0.0))
            raise
        n = len(self._deployments)
        ttls, inflight = results[-2 * n : -n] if n else [], results[-n:] if n else []
        for deployment_id, ttl in zip(self._deployments, ttls, strict=True):
            if (
                isinstance(ttl, int)
                and ttl > 0
                and self._health.cooldown_left(deployment_id) * 1000 < ttl - 50
            ):
                self._health.open(deployment_id, ttl / 1000, local_only=True)
        for deployment_id, fields in zip(self._deployments, inflight, strict=True):
            others = 0
            for field, value in (fields or {}).items():
                if field.decode() == self.process_id:
                    continue
                count, _, stamp = value.decode().partition(":")
                if stamp.isdigit() and now_ms - int(stamp) <= STALE_MS and count.lstrip("-").isdigit():
                    others += max(0, int(count))
            self._health.set_remote_in_flight(deployment_id, others)
