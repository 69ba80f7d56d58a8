"""Rate limits (requests and tokens per minute), in-process or in Redis.

Rate limits are exact sliding windows over the last 60 s: a request is admitted if fewer than
``rpm`` were admitted in the window (and it is counted at once); tokens are added when the answer
is complete, and a request is refused while the window holds ``tpm`` tokens or more. In Redis
(``redis_scripts.py``: atomic across replicas) a request's whole admission, its rate limits in
every scope and its budget reservation, is one script call (``admit``), and counting its tokens
and spend another (``settle``); tokens are kept per second there. In-process it is a deque per scope.

Budget counters and the reservations of requests in flight are ``budgets.py``'s; each backend
here carries the matching one as ``.budgets`` (the Redis one shares its connection).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llmgate.auth import redis_scripts
from llmgate.auth.budgets import BudgetCheck, LocalBudgets, RedisBudgets, Refusal, Reservation

WINDOW_S = 60.0
#: Redis connections a process opens for limits and budgets at most (each command in flight holds one)
MAX_CONNECTIONS = 64


@dataclass(frozen=True, slots=True)
class RateState:
    """What a check found, for the ``x-ratelimit-*`` headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # until the window has room again


@dataclass(frozen=True, slots=True)
class LimitScope:
    """A scope's rate limits (``None``: none), as ``admit`` checks them."""

    scope: str
    rpm: int | None
    tpm: int | None


@dataclass(slots=True)
class Checked:
    """What ``admit`` found: each scope checked, in order, up to the first that refused (its
    requests and tokens states, ``None`` where it has no such limit), and the budget reservation
    (or refusal; ``None`` when there is no budget or a rate limit refused first)."""

    states: list[tuple[LimitScope, RateState | None, RateState | None]]
    outcome: Reservation | Refusal | None = None

    @property
    def refused(self) -> bool:
        return any(state is not None and not state.allowed for _, *pair in self.states for state in pair)


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

    async def admit(
        self, scopes: Sequence[LimitScope], checks: list[BudgetCheck], amount: Decimal
    ) -> Checked:
        """Each scope's requests and tokens per minute in order (a request is counted in each scope
        until one refuses), then, if none did, ``amount`` reserved in every budget of ``checks``."""
        checked = await _check_each(self, scopes)
        if checks and not checked.refused:
            checked.outcome = await self.budgets.reserve(checks, amount)
        return checked

    async def settle(
        self, token_scopes: Sequence[str], tokens: int, reservation: Reservation | None, cost: Decimal | None
    ) -> None:
        """Count ``tokens`` in each of ``token_scopes`` and settle ``reservation`` at ``cost``."""
        for scope in token_scopes:
            await self.add_tokens(scope, tokens)
        if reservation is not None:
            await self.budgets.settle(reservation, cost)

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
        self._rpm = self._redis.register_script(redis_scripts.RPM)
        self._tpm = self._redis.register_script(redis_scripts.TPM_READ)
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
        total, oldest = await self._tpm(keys=[self._tpm_key(scope)], args=[now_ms, int(WINDOW_S * 1000)])
        reset = (int(oldest) + WINDOW_S * 1000 - now_ms) / 1000 if int(oldest) >= 0 else 0.0
        return RateState(int(total) < tpm, tpm, max(0, tpm - int(total)), max(0.0, reset))

    async def admit(
        self, scopes: Sequence[LimitScope], checks: list[BudgetCheck], amount: Decimal
    ) -> Checked:
        """``LocalLimits.admit``, in one script (``redis_scripts.ADMIT``): one round trip."""
        self._seq += 1
        keys: list[str] = []
        args: list[Any] = [int(WINDOW_S * 1000), f"{time.time_ns()}:{id(self)}:{self._seq}", len(scopes)]
        for limit in scopes:
            keys += [f"{self._prefix}:rpm:{limit.scope}", self._tpm_key(limit.scope)]
            args += [limit.rpm or 0, limit.tpm or 0]
        now_ms = int(time.time() * 1000)
        _, outcome, figures = await self.budgets.admit(checks, amount, keys, args)
        checked = Checked([], outcome)
        for index, limit in enumerate(scopes[: len(figures) // 5]):
            allowed, count, oldest, total, first = figures[5 * index : 5 * index + 5]
            requests = None
            if limit.rpm:
                reset = (oldest + WINDOW_S * 1000 - now_ms) / 1000 if not allowed else 0.0
                requests = RateState(bool(allowed), limit.rpm, max(0, limit.rpm - count), max(0.0, reset))
            tokens = None
            if limit.tpm and allowed:
                reset = (first + WINDOW_S * 1000 - now_ms) / 1000 if first >= 0 else 0.0
                tokens = RateState(total < limit.tpm, limit.tpm, max(0, limit.tpm - total), max(0.0, reset))
            checked.states.append((limit, requests, tokens))
        return checked

    async def settle(
        self, token_scopes: Sequence[str], tokens: int, reservation: Reservation | None, cost: Decimal | None
    ) -> None:
        """Tokens and spend in one script (``redis_scripts.SETTLE``): one round trip."""
        keys = [self._tpm_key(scope) for scope in token_scopes]
        await self.budgets.settle(reservation, cost, keys, self._token_args(tokens))

    def _tpm_key(self, scope: str) -> str:
        return f"{self._prefix}:tpm:{scope}"

    @staticmethod
    def _token_args(count: int) -> tuple[int, int, int]:
        """``redis_scripts.SETTLE``'s: the second (ms) the tokens count in, the hash's TTL, the tokens."""
        now_ms = int(time.time() * 1000)
        return now_ms - now_ms % redis_scripts.TOKEN_BUCKET_MS, int(WINDOW_S * 2000), max(0, count)

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


async def _check_each(limits: LocalLimits, scopes: Sequence[LimitScope]) -> Checked:
    """The scopes' limits one check at a time, up to the first refusal."""
    checked = Checked([])
    for limit in scopes:
        requests = await limits.hit(limit.scope, limit.rpm) if limit.rpm else None
        tokens = None
        if limit.tpm and (requests is None or requests.allowed):
            tokens = await limits.tokens(limit.scope, limit.tpm)
        checked.states.append((limit, requests, tokens))
        if checked.refused:
            break
    return checked
