"""A request's limits and budget in Redis: one script call to admit it (every scope's requests and
tokens per minute, then its budget reservation) and one to settle it (tokens and spend), with the
same answers as the in-process backend; tokens are kept per second, so a scope's token hash stays
small however many requests a minute it serves."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from llmgate.auth.budgets import BudgetCheck, Refusal, Reservation
from llmgate.auth.limits import LimitScope, LocalLimits, RedisLimits

pytestmark = pytest.mark.redis


@pytest.fixture
async def limits(redis_url: str) -> AsyncIterator[RedisLimits]:
    backend = RedisLimits(redis_url, prefix=f"test-{os.urandom(4).hex()}")
    yield backend
    await backend.close()


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


def check(scope: str, budget: str, spent: str = "0") -> BudgetCheck:
    async def seed() -> Decimal:
        return Decimal(spent)

    return BudgetCheck(scope, time.time() // 86400 * 86400, Decimal(budget), seed)


async def script_calls(redis: aioredis.Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval"))


async def test_admission_and_settling_are_one_script_call_each(
    limits: RedisLimits, client: aioredis.Redis
) -> None:
    scopes = [LimitScope("key:k1", 100, 10_000), LimitScope("team:t1", 100, 10_000)]
    warm = await limits.admit(scopes, [check("key:k1", "5"), check("team:t1", "5")], Decimal("0.01"))
    assert isinstance(warm.outcome, Reservation)  # counters seeded and the scripts loaded
    await limits.settle(["key:k1", "team:t1"], 10, warm.outcome, Decimal("0.001"))

    before = await script_calls(client)
    checked = await limits.admit(scopes, [check("key:k1", "5"), check("team:t1", "5")], Decimal("0.01"))
    assert await script_calls(client) - before == 1
    assert isinstance(checked.outcome, Reservation)
    assert [(limit.scope, r.remaining if r else None) for limit, r, _ in checked.states] == [
        ("key:k1", 98),
        ("team:t1", 98),
    ]
    before = await script_calls(client)
    await limits.settle(["key:k1", "team:t1"], 250, checked.outcome, Decimal("0.002"))
    assert await script_calls(client) - before == 1

    # what the settle counted: tokens in both scopes, spend in both budgets, nothing held
    tokens = await limits.tokens("key:k1", 10_000)
    assert tokens.remaining == 10_000 - 260
    after = await limits.admit([], [check("key:k1", "0.003")], Decimal("0.0005"))
    assert isinstance(after.outcome, Refusal) and after.outcome.spent == Decimal("0.003")
    assert after.outcome.in_flight == 0


async def test_a_refused_rate_limit_stops_before_the_budget(limits: RedisLimits) -> None:
    scopes = [LimitScope("key:k2", 2, None)]
    for _ in range(2):
        admitted = await limits.admit(scopes, [check("key:k2", "1")], Decimal("0.1"))
        assert isinstance(admitted.outcome, Reservation)
    refused = await limits.admit(scopes, [check("key:k2", "1")], Decimal("0.1"))
    assert refused.refused and refused.outcome is None
    (_, requests, tokens) = refused.states[0]
    assert requests is not None and not requests.allowed and 0 < requests.reset_s <= 60 and tokens is None
    # the refused request reserved nothing: the budget still holds just the two admitted ones
    probe = await limits.admit([], [check("key:k2", "0.2")], Decimal("0.05"))
    assert isinstance(probe.outcome, Refusal) and probe.outcome.in_flight == 2


async def test_tokens_per_minute_refuse_past_the_limit(limits: RedisLimits) -> None:
    scopes = [LimitScope("key:k3", None, 1_000)]
    first = await limits.admit(scopes, [], Decimal(0))
    assert not first.refused and first.outcome is None
    await limits.settle(["key:k3"], 1_200, None, None)
    refused = await limits.admit(scopes, [], Decimal(0))
    (_, requests, tokens) = refused.states[0]
    assert requests is None and tokens is not None and not tokens.allowed and tokens.remaining == 0


async def test_a_scopes_token_hash_keeps_one_field_a_second(
    limits: RedisLimits, client: aioredis.Redis
) -> None:
    began = time.time()
    for _ in range(300):
        await limits.settle(["key:k4"], 3, None, None)
    seconds = int(time.time()) - int(began) + 1
    fields = await client.hlen(f"{limits._prefix}:tpm:key:k4")
    assert 1 <= fields <= seconds  # not one per millisecond
    assert (await limits.tokens("key:k4", 10_000)).remaining == 10_000 - 900


async def test_the_local_backend_answers_alike() -> None:
    local = LocalLimits()
    scopes = [LimitScope("key:k5", 1, 100)]
    admitted = await local.admit(scopes, [check("key:k5", "1")], Decimal("0.1"))
    assert isinstance(admitted.outcome, Reservation)
    refused = await local.admit(scopes, [check("key:k5", "1")], Decimal("0.1"))
    assert refused.refused and refused.outcome is None and refused.states[0][2] is None
    await local.settle(["key:k5"], 150, admitted.outcome, Decimal("0.5"))
    assert not (await local.tokens("key:k5", 100)).allowed
    probe = await local.admit([], [check("key:k5", "0.5")], Decimal("0.1"))
    assert isinstance(probe.outcome, Refusal) and probe.outcome.spent == Decimal("0.5")


async def test_admissions_of_one_loop_turn_are_each_answered(
    limits: RedisLimits, client: aioredis.Redis
) -> None:
    """Sixty requests at once (one pipeline): each gets its own answer, and the limit is exact."""
    scopes = [LimitScope("key:k6", 50, None)]
    checked = await asyncio.gather(
        *(limits.admit(scopes, [check("key:k6", "100")], Decimal("0.01")) for _ in range(60))
    )
    admitted = [c for c in checked if isinstance(c.outcome, Reservation)]
    assert len(admitted) == 50 and sum(c.refused for c in checked) == 10
    assert sorted(c.states[0][1].remaining for c in admitted if c.states[0][1]) == list(range(50))
    assert await client.zcard(f"{limits._prefix}:rpm:key:k6") == 50
    await asyncio.gather(*(limits.settle([], 0, c.outcome, Decimal("0.01")) for c in admitted))
    probe = await limits.admit([], [check("key:k6", "0.5")], Decimal("0.01"))
    assert isinstance(probe.outcome, Refusal) and probe.outcome.spent == Decimal("0.50")
    assert probe.outcome.in_flight == 0


async def test_scripts_lost_by_redis_are_loaded_again(limits: RedisLimits, client: aioredis.Redis) -> None:
    scopes = [LimitScope("key:k7", 10, 100)]
    assert not (await limits.admit(scopes, [], Decimal(0))).refused
    await client.script_flush()  # what a restarted Redis has
    again = await asyncio.gather(*(limits.admit(scopes, [], Decimal(0)) for _ in range(3)))
    assert [c.states[0][1].remaining for c in again if c.states[0][1]] == [8, 7, 6]
    await client.script_flush()
    await limits.settle(["key:k7"], 40, None, None)
    assert (await limits.tokens("key:k7", 100)).remaining == 60
