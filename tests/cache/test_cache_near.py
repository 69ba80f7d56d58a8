"""Redis with near copies (``near.py``) against a real Redis (``LLMGATE_TEST_REDIS_URL``)."""

from __future__ import annotations

import asyncio
import os

import pytest

from llmgate.cache.near import NearBackend
from llmgate.cache.redis_backend import RedisBackend

pytestmark = pytest.mark.redis


async def test_a_read_entry_is_served_near_until_its_near_copy_expires(redis_url: str) -> None:
    ns = f"test-{os.urandom(4).hex()}"
    other = RedisBackend(redis_url)  # another replica, writing and clearing Redis directly
    near = NearBackend(RedisBackend(redis_url, f"{ns}:e:*"), near_ttl_s=0.3, max_bytes=1 << 20)
    try:
        assert near.name == "redis"  # the guard bounds it and the semantic index persists to it
        await other.set(f"{ns}:e:gpt:team-a:1", b"answer", 60)
        assert await near.get(f"{ns}:e:gpt:team-a:1") == b"answer"  # from Redis, now kept near
        await other.delete_matching(f"{ns}:e:*")  # cleared by the other replica
        assert await near.get(f"{ns}:e:gpt:team-a:1") == b"answer"  # the near copy, no round trip
        await asyncio.sleep(0.4)
        assert await near.get(f"{ns}:e:gpt:team-a:1") is None  # within near_ttl_s the clear reaches it
    finally:
        await near.close()
        await other.close()


async def test_own_writes_and_clears_go_to_both_and_never_outlive_the_entry(redis_url: str) -> None:
    ns = f"test-{os.urandom(4).hex()}"
    other = RedisBackend(redis_url)
    near = NearBackend(RedisBackend(redis_url, f"{ns}:e:*"), near_ttl_s=30, max_bytes=1 << 20)
    try:
        await near.set(f"{ns}:e:gpt:team-a:1", b"kept", 60)
        await near.set(f"{ns}:e:gpt:team-a:2", b"short", 0.1)
        assert await other.get(f"{ns}:e:gpt:team-a:1") == b"kept"  # every replica sees it
        await asyncio.sleep(0.2)
        assert await near.get(f"{ns}:e:gpt:team-a:2") is None  # the entry's own TTL bounds its copy
        assert await near.delete_matching(f"{ns}:e:*") == 1
        assert await near.get(f"{ns}:e:gpt:team-a:1") is None  # this replica's clear: at once
        assert (await near.stats())["entries"] == 0
    finally:
        await near.close()
        await other.close()
