"""Rate limits (requests and tokens per minute) and budget counters, in-process or in Redis.

Rate limits are exact sliding windows over the last 60 s: a request is admitted if fewer than
``rpm`` were admitted in the window (and it is counted at once); tokens are added when the answer
is complete, and a request is refused while the window holds ``tpm`` tokens or more. In Redis
each check is one Lua script (atomic across replicas); in-process it is a deque per scope.

Budget counters hold the spend of one scope (``key:<id>``, ``team:<id>``, ``user:<id>``) in one
period. A counter starts from the store's sum for the period (so a restart forgets nothing) and
grows as answers complete; a request is refused once the counter has reached the budget, so with
N requests in flight at the edge spend can pass the budget by at most their cost. In Redis the
counter is an integer of 1e-10 USD (exact, ``INCRBY``); in-process it is a ``Decimal`` that is
also caught up with the store every few seconds (other workers' spend).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

WINDOW_S = 60.0
#: how often in-process budget counters are caught up with the store
RESEED_S = 5.0
UNITS = Decimal(10) ** 10  # Redis counters: integer 1e-10 USD

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
        self._spend: dict[tuple[str, float], Decimal] = {}
        self._seeded_at: dict[tuple[str, float], float] = {}

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

    async def spent(self, scope: str, period_start: float, seed: Callable[[], Awaitable[Decimal]]) -> Decimal:
        key = (scope, period_start)
        now = time.monotonic()
        if key not in self._spend or now - self._seeded_at.get(key, 0.0) > RESEED_S:
            self._seeded_at[key] = now
            stored = await seed()
            self._spend[key] = max(self._spend.get(key, Decimal(0)), stored)
        return self._spend[key]

    async def add_spend(self, scope: str, period_start: float, amount: Decimal) -> None:
        key = (scope, period_start)
        self._spend[key] = self._spend.get(key, Decimal(0)) + amount

    async def close(self) -> None:
        return None


class RedisLimits:
    """The same, in Redis: shared by every gateway process that uses it."""

    def __init__(self, url: str, prefix: str = "llmgate") -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = prefix
        self._rpm = self._redis.register_script(_RPM_SCRIPT)
        self._tpm = self._redis.register_script(_TPM_READ_SCRIPT)
        self._seq = 0

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

    def _spend_key(self, scope: str, period_start: float) -> str:
        return f"{self._prefix}:spend:{scope}:{int(period_start)}"

    async def spent(self, scope: str, period_start: float, seed: Callable[[], Awaitable[Decimal]]) -> Decimal:
        key = self._spend_key(scope, period_start)
        value = await self._redis.get(key)
        if value is None:  # first use this period (or Redis restarted): start from the store
            stored = await seed()
            await self._redis.set(key, int(stored * UNITS), nx=True, ex=40 * 86400)
            value = await self._redis.get(key)
        return Decimal(int(value)) / UNITS

    async def add_spend(self, scope: str, period_start: float, amount: Decimal) -> None:
        await self._redis.incrby(self._spend_key(scope, period_start), int(amount * UNITS))

    async def close(self) -> None:
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
