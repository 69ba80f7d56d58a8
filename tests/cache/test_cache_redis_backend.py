"""The Redis backend against a real Redis (``LLMGATE_TEST_REDIS_URL``), in a namespace of its own."""

from __future__ import annotations

import asyncio
import os

import pytest

from llmgate.cache.redis_backend import RedisBackend

pytestmark = pytest.mark.redis


async def test_set_get_expire_scan_clear_stats(redis_url: str) -> None:
    ns = f"test-{os.urandom(4).hex()}"
    backend = RedisBackend(redis_url, f"{ns}:e:*")
    try:
        await backend.set(f"{ns}:e:gpt:team-a:1", b"one", 60)
        await backend.set(f"{ns}:e:gpt:team-b:2", b"two", 60)
        await backend.set(f"{ns}:e:gpt:team-a:3", b"gone soon", 0.05)
        assert await backend.get(f"{ns}:e:gpt:team-a:1") == b"one"
        await asyncio.sleep(0.15)
        assert await backend.get(f"{ns}:e:gpt:team-a:3") is None
        assert sorted([k async for k, _ in backend.scan(f"{ns}:e:*")]) == [
            f"{ns}:e:gpt:team-a:1",
            f"{ns}:e:gpt:team-b:2",
        ]
        stats = await backend.stats()
        assert stats["entries"] == 2 and stats["bytes"] >= 6
        assert await backend.delete_matching(f"{ns}:e:*:team-a:*") == 1
        assert await backend.delete_matching(f"{ns}:e:*") == 1
        assert (await backend.stats())["entries"] == 0
    finally:
        await backend.close()
