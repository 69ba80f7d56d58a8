"""Rate limits in Redis under a burst: more checks in flight than the connection pool holds wait
for a connection instead of failing the request (redis' default pool raises at once)."""

from __future__ import annotations

import asyncio
import os

import pytest

from llmgate.auth.limits import MAX_CONNECTIONS, RedisLimits

pytestmark = pytest.mark.redis


async def test_a_burst_larger_than_the_pool_is_served(redis_url: str) -> None:
    limits = RedisLimits(redis_url, prefix=f"test-{os.urandom(4).hex()}")
    try:
        burst = 4 * MAX_CONNECTIONS
        states = await asyncio.gather(*(limits.hit("key:burst", burst) for _ in range(burst)))
        assert all(state.allowed for state in states)
        assert not (await limits.hit("key:burst", burst)).allowed  # every one of them was counted
    finally:
        await limits.close()
