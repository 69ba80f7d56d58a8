"""Budget reservations on their own: what a replica that dies or a request that is dropped leaves.

Against a real Redis (and in-process): a reservation whose holder stops renewing it (a replica
killed mid-request) lapses, so the budget is not blocked for good; one whose holder is alive
outlives the lease by being renewed (a long stream keeps its reservation); a reservation dropped
without being settled is released; settling twice counts once. Lease times are shortened here.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from llmgate.auth import budgets
from llmgate.auth.budgets import BudgetCheck, LocalBudgets, RedisBudgets, Refusal, Reservation

BUDGET = Decimal("1.00")
PERIOD = 1_700_000_000.0
PREFIX = f"llmgate-test-{os.urandom(4).hex()}"  # this run's Redis keys, deleted afterwards


async def _nothing_spent() -> Decimal:
    return Decimal(0)


def _checks() -> list[BudgetCheck]:
    scope = f"key:test-{os.urandom(4).hex()}"
    return [BudgetCheck(scope, PERIOD, BUDGET, _nothing_spent)]


@pytest.fixture
async def shared(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[aioredis.Redis]:
    monkeypatch.setattr(budgets, "LEASE_S", 0.6)
    monkeypatch.setattr(budgets, "RENEW_S", 0.15)
    client = aioredis.from_url(redis_url)
    yield client
    async for key in client.scan_iter(match=f"{PREFIX}:*"):
        await client.delete(key)
    await client.aclose()


@pytest.mark.redis
async def test_a_dead_replicas_reservation_lapses_and_a_live_ones_is_renewed(shared: aioredis.Redis) -> None:
    checks = _checks()
    alive, dead, other = (RedisBudgets(shared, PREFIX) for _ in range(3))
    try:
        held = await alive.reserve(checks, Decimal("0.40"))
        crashed = await dead.reserve(checks, Decimal("0.40"))
        assert isinstance(held, Reservation) and isinstance(crashed, Reservation)
        refused = await other.reserve(checks, Decimal("0.40"))
        assert isinstance(refused, Refusal) and refused.in_flight == 2
        assert refused.reserved == Decimal("0.80")

        assert dead._renewer is not None
        dead._renewer.cancel()  # the replica died: nobody renews its lease any more
        for _ in range(60):  # bounded: about three leases
            outcome = await other.reserve(checks, Decimal("0.40"))
            if isinstance(outcome, Reservation):
                break
            await asyncio.sleep(0.05)
        assert isinstance(outcome, Reservation), "a dead replica's reservation never lapsed"
        # the live holder's reservation was renewed past its first lease and still counts
        over = await other.reserve(checks, Decimal("0.40"))
        assert isinstance(over, Refusal) and over.in_flight == 2, over

        await alive.settle(held, Decimal("0.30"))
        await alive.settle(held, Decimal("0.30"))  # a second settle counts nothing
        await other.settle(outcome, Decimal("0.30"))
        last = await other.reserve(checks, Decimal("0.40"))  # 0.60 + 0.40 fits exactly
        assert isinstance(last, Reservation)
        full = await other.reserve(checks, Decimal("0.01"))
        assert isinstance(full, Refusal) and (full.spent, full.reserved) == (Decimal("0.60"), Decimal("0.40"))
        await other.settle(last, None)  # failed: released, nothing spent
        del crashed
    finally:
        for backend in (alive, dead, other):
            await backend.close()


@pytest.mark.redis
async def test_a_dropped_reservation_is_released_in_redis(shared: aioredis.Redis) -> None:
    checks = _checks()
    backend = RedisBudgets(shared, PREFIX)
    try:
        dropped = await backend.reserve(checks, Decimal("5"))  # alone: admitted though over budget
        assert isinstance(dropped, Reservation)
        assert isinstance(await backend.reserve(checks, Decimal("0.01")), Refusal)
        del dropped
        gc.collect()
        for _ in range(40):
            outcome = await backend.reserve(checks, Decimal("0.01"))
            if isinstance(outcome, Reservation):
                break
            await asyncio.sleep(0.02)
        assert isinstance(outcome, Reservation)
    finally:
        await backend.close()


async def test_in_process_reservations() -> None:
    checks = _checks()
    backend = LocalBudgets()
    first = await backend.reserve(checks, Decimal("5"))  # alone: admitted though over budget
    assert isinstance(first, Reservation)
    refused = await backend.reserve(checks, Decimal("0"))
    assert isinstance(refused, Refusal) and refused.in_flight == 1
    del first
    gc.collect()
    await asyncio.sleep(0)  # released on the loop
    second = await backend.reserve(checks, Decimal("0.50"))
    third = await backend.reserve(checks, Decimal("0.50"))
    assert isinstance(second, Reservation) and isinstance(third, Reservation)
    assert isinstance(await backend.reserve(checks, Decimal("0.01")), Refusal)
    await backend.settle(second, Decimal("0.70"))
    await backend.settle(second, Decimal("0.70"))
    await backend.settle(third, Decimal("0.40"))
    spent = await backend.reserve(checks, Decimal("0"))
    assert isinstance(spent, Refusal) and spent.spent == Decimal("1.10") and spent.in_flight == 0
