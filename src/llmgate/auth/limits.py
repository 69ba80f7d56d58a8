"""Rate limits (requests and tokens per minute), in-process or in Redis.

Rate limits are exact sliding windows over the last 60 s: a request is admitted if fewer than
``rpm`` were admitted in the window (and it is counted at once); tokens are added when the answer
is complete, and a request is refused while the window holds ``tpm`` tokens or more. In Redis
each check is one Lua script (atomic across replicas); in-process it is a deque per scope.

Budget counters and the reservations of requests in flight are ``budgets.py``'s; each backend
here carries the matching one as ``.budgets`` (the Redis one shares its connection).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from llmgate.auth.budgets import LocalBudgets, RedisBudgets

WINDOW_S = 60.0
#: Redis connections a process opens for limits and budgets at most (each command in flight holds one)
MAX_CONNECTIONS = 64

_RPM_SCRIPT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, n, tonumber(oldest[2])}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1, n + 1, 0}
"""

_TPM_READ_SCRIPT = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local fields = redis.call('HGETALL', KEYS[1])
local total, oldest = 0, -1
for i = 1, #fields, 2 do
  local at = tonumber(fields[i])
  if at <= now - window then
    redis.call('HDEL', KEYS[1], fields[i])
  else
    total = total + tonumber(fields[i + 1])
    if oldest < 0 or at < oldest then oldest = at end
  end
end
return {total, oldest}
"""


@dataclass(frozen=True, slots=True)
class RateState:
    """What a check found, for the ``x-ratelimit-*`` headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # until the window has room again


class LocalLimits:
    """In-process windows and counters (one gateway process)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._requests: dict[str, deque[float]] = {}
        self._tokens: dict[str, deque[tuple[float, int]]] = {}
        self._token_sums: dict[str, int] = {}
        self.budgets = LocalBudgets()

    async def hit(self, scope: str, rpm: int) -> RateState:
        now = self._clock()
        window = self._requests.setdefault(scope, deque())
        while window and window[0] <= now - WINDOW_S:
            window.popleft()
        if len(window) >= rpm:
            return RateState(False, rpm, 0, max(0.0, window[0] + WINDOW_S - now))
        window.append(now)
        return RateState(True, rpm, rpm - len(window), max(0.0, window[0] + WINDOW_S - now))

    async def tokens(self, scope: str, tpm: int) -> RateState:
        now = self._clock()
        window = self._tokens.setdefault(scope, deque())
        total = self._token_sums.get(scope, 0)
        while window and window[0][0] <= now - WINDOW_S:
            total -= window.popleft()[1]
        self._token_sums[scope] = total
        reset = max(0.0, window[0][0] + WINDOW_S - now) if window else 0.0
        return RateState(total < tpm, tpm, max(0, tpm - total), reset)

    async def add_tokens(self, scope: str, count: int) -> None:
        if count > 0:
            self._tokens.setdefault(scope, deque()).append((self._clock(), count))
            self._token_sums[scope] = self._token_sums.get(scope, 0) + count

    async def close(self) -> None:
        return None


class RedisLimits:
    """The same, in Redis: shared by every gateway process that uses it."""

    def __init__(self, url: str, prefix: str = "llmgate") -> None:
        # redis: only when limits are shared through Redis, off the gateway's start-up otherwise
        import redis.asyncio as aioredis

        # A command waits (up to 2 s) for a free connection past MAX_CONNECTIONS, never fails the request
        # at once as the default pool does (redis.exceptions.MaxConnectionsError under a burst).
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=2.0, socket_timeout=2.0, socket_connect_timeout=2.0
        )
        self._redis: Any = aioredis.Redis.from_pool(pool)
        self._prefix = prefix
        self._rpm = self._redis.register_script(_RPM_SCRIPT)
        self._tpm = self._redis.register_script(_TPM_READ_SCRIPT)
        self._seq = 0
        self.budgets = RedisBudgets(self._redis, prefix)

    async def hit(self, scope: str, rpm: int) -> RateState:
        now_ms = int(time.time() * 1000)
        self._seq += 1
        member = f"{now_ms}:{id(self)}:{self._seq}"
        allowed, count, oldest = await self._rpm(
            keys=[f"{self._prefix}:rpm:{scope}"], args=[now_ms, int(WINDOW_S * 1000), rpm, member]
        )
        reset = (int(oldest) + WINDOW_S * 1000 - now_ms) / 1000 if not allowed else 0.0
        return RateState(bool(allowed), rpm, max(0, rpm - int(count)), max(0.0, reset))

    async def tokens(self, scope: str, tpm: int) -> RateState:
        now_ms = int(time.time() * 1000)
        key = f"{self._prefix}:tpm:{scope}"
        total, oldest = await self._tpm(keys=[key], args=[now_ms, int(WINDOW_S * 1000)])
        reset = (int(oldest) + WINDOW_S * 1000 - now_ms) / 1000 if int(oldest) >= 0 else 0.0
        return RateState(int(total) < tpm, tpm, max(0, tpm - int(total)), max(0.0, reset))

    async def add_tokens(self, scope: str, count: int) -> None:
        if count > 0:
            key = f"{self._prefix}:tpm:{scope}"
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(key, str(int(time.time() * 1000)), count)
                pipe.pexpire(key, int(WINDOW_S * 2000))
                await pipe.execute()

    async def close(self) -> None:
        await self.budgets.close()
        await self._redis.aclose()


Limits = LocalLimits | RedisLimits


def ratelimit_headers(requests: RateState | None, tokens: RateState | None) -> dict[str, str]:
    """OpenAI's ``x-ratelimit-*`` headers for the tightest limits that applied."""
    headers: dict[str, str] = {}
    if requests is not None:
        headers["x-ratelimit-limit-requests"] = str(requests.limit)
        headers["x-ratelimit-remaining-requests"] = str(requests.remaining)
        headers["x-ratelimit-reset-requests"] = _duration(requests.reset_s)
    if tokens is not None:
        headers["x-ratelimit-limit-tokens"] = str(tokens.limit)
        headers["x-ratelimit-remaining-tokens"] = str(tokens.remaining)
        headers["x-ratelimit-reset-tokens"] = _duration(tokens.reset_s)
    return headers


def _duration(seconds: float) -> str:
    """OpenAI's format: ``1s``, ``6m0s``, ``20ms``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


async def first_of(awaitables: list[Awaitable[RateState]]) -> list[RateState]:
    return list(await asyncio.gather(*awaitables))
