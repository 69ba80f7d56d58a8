"""The in-process backend: bounded in bytes, least recently used out first, entries expire."""

from __future__ import annotations

import asyncio

from llmgate.cache.local import OVERHEAD_BYTES, LocalBackend


async def test_bounded_in_bytes_least_recently_used_first() -> None:
    size = len("k0") + 100 + OVERHEAD_BYTES
    cache = LocalBackend(max_bytes=3 * size)
    for i in range(3):
        await cache.set(f"k{i}", b"x" * 100, 60)
    assert await cache.get("k0") is not None  # k0 is now the most recently used
    await cache.set("k3", b"x" * 100, 60)
    assert await cache.get("k1") is None and await cache.get("k0") is not None
    assert await cache.stats() == {"entries": 3, "bytes": 3 * size}
    await cache.set("big", b"x" * (4 * size), 60)  # larger than the whole cache: not kept, nothing evicted
    assert await cache.get("big") is None and (await cache.stats())["entries"] == 3


async def test_entries_expire() -> None:
    cache = LocalBackend(max_bytes=10_000)
    await cache.set("a", b"1", 0.05)
    await cache.set("b", b"2", 60)
    await asyncio.sleep(0.1)
    assert await cache.get("a") is None and await cache.get("b") == b"2"
    assert [key async for key, _ in cache.scan("*")] == ["b"]


async def test_delete_matching() -> None:
    cache = LocalBackend(max_bytes=10_000)
    for key in ("ns:e:gpt:team-a:1", "ns:e:gpt:team-b:2", "ns:e:other:team-a:3"):
        await cache.set(key, b"v", 60)
    assert await cache.delete_matching("ns:e:*:team-a:*") == 2
    assert [key async for key, _ in cache.scan("*")] == ["ns:e:gpt:team-b:2"]
