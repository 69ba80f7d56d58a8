"""Which process decides canaries: one leader among every replica (Redis) or every worker of a host.

``RedisLeadership``: ``SET llmgate:canary:leader[:<store>] <token> NX PX <ttl>`` takes the lead (the
server suffixes the key with a hash of the store's URL: one leader per store); the holder
renews the expiry at every tick with a compare-and-expire script (only while the key still holds its
own token), and ``release`` deletes the key the same way. A leader that dies stops renewing and
another replica takes over once the key expires (``ttl_s``). When Redis cannot be reached nobody
leads (``acquire`` answers False and logs once): two replicas must never both act on one canary.

``FileLeadership``: without Redis, an exclusive ``flock`` on ``canary-controller.lock`` in the spill
directory (``telemetry/leader.py``): one leader per host, which is every replica when the gateway
runs on one host with ``--workers N``. The kernel drops the lock with the process.

A new leader rebuilds its evidence from the store (``evidence_reader.py``): nothing is handed over.

The retention job (``server/retention_job.py``) is elected the same way, under a key and lock file
of its own (``role`` names it in these log lines).
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any, Protocol

from llmgate.protocol.redact import redact_text
from llmgate.telemetry.leader import FileLock

__all__ = ["LEADER_KEY", "FileLeadership", "Leadership", "RedisLeadership"]

log = logging.getLogger("llmgate.canary")

LEADER_KEY = "llmgate:canary:leader"
#: socket timeouts of the Redis client
SOCKET_TIMEOUT_S = 1.0

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Leadership(Protocol):
    """Asked at every tick: take the lead or keep it (True while this process leads)."""

    async def acquire(self) -> bool: ...

    async def release(self) -> None: ...


class RedisLeadership:
    """The lead through a Redis key with an expiry, renewed at every tick (see the module doc)."""

    def __init__(
        self, url: str, *, ttl_s: float, key: str = LEADER_KEY, role: str = "canary controller"
    ) -> None:
        # redis: only when the config shares state through Redis
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
        )
        self.key, self._role = key, role  # role: who leads, in log lines (the retention job too)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._leading = False
        self._down = False

    async def acquire(self) -> bool:
        try:
            if self._leading:
                renewed = await self._redis.eval(_RENEW, 1, self.key, self.token, self._ttl_ms)
                self._leading = bool(renewed)
            if not self._leading:
                taken = await self._redis.set(self.key, self.token, nx=True, px=self._ttl_ms)
                self._leading = bool(taken)
        except Exception as exc:  # Redis away: nobody leads until it is back
            if not self._down:
                log.warning(
                    "%s: Redis unreachable (%s); not leading until it is back",
                    self._role,
                    redact_text(str(exc)) or type(exc).__name__,
                )
            self._down, self._leading = True, False
            return False
        if self._down:
            log.info("%s: Redis is back", self._role)
            self._down = False
        return self._leading

    async def release(self) -> None:
        try:
            if self._leading:
                await self._redis.eval(_RELEASE, 1, self.key, self.token)
        except Exception as exc:  # the key expires by itself
            log.debug("%s: could not release the lead: %s", self._role, type(exc).__name__)
        finally:
            self._leading = False
            await self._redis.aclose()


class FileLeadership:
    """The lead through a lock file (one leader per host), for gateways without Redis."""

    def __init__(self, path: Path, *, role: str = "canary controller") -> None:
        self._lock, self._role = FileLock(path), role

    async def acquire(self) -> bool:
        try:
            return self._lock.acquire()
        except OSError as exc:
            log.warning("%s: cannot take the lock %s: %s", self._role, self._lock.path, exc.strerror)
            return False

    async def release(self) -> None:
        self._lock.release()
