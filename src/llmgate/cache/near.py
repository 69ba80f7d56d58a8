"""Redis with a near copy: the entries this process read or wrote lately, kept in-process briefly.

A hot entry (the same FAQ question a hundred times a second) is then read from this process's
memory, not over the network: a Redis ``GET`` through ``redis.asyncio`` costs the gateway's event
loop more than the rest of a hit, and under load its wait can pass ``lookup_timeout_ms``, turning
hits into upstream calls. The near copy lives ``llmgate.cache.near_ttl_s`` (10 s by default; never
longer than the entry itself) within ``llmgate.cache.max_bytes``, least recently used first out.

What that costs: another replica's ``llmgate cache clear`` reaches this one's near copies within
``near_ttl_s`` (its own clear at once), and a near copy may outlive its Redis entry by as much.
Everything else (scans, stats, the semantic index's vectors) is Redis's alone. The service reads
the near copy (``peek``) before it asks Redis within its bounds, so while Redis is skipped (slow or
down) the hot entries still answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from llmgate.cache.base import CacheBackend
from llmgate.cache.local import LocalBackend

__all__ = ["NearBackend"]


class NearBackend:
    """``far`` (Redis) behind a ``LocalBackend`` of short-lived copies; named as ``far`` is."""

    def __init__(self, far: CacheBackend, near_ttl_s: float, max_bytes: int) -> None:
        self.name = far.name
        self._far = far
        self._near = LocalBackend(max_bytes)
        self._ttl = near_ttl_s

    def peek(self, key: str) -> bytes | None:
        return self._near.peek(key)

    async def get(self, key: str) -> bytes | None:
        value = self._near.peek(key)
        if value is None:
            value = await self._far.get(key)
            if value is not None:
                await self._near.set(key, value, self._ttl)
        return value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._far.set(key, value, ttl_s)
        await self._near.set(key, value, min(ttl_s, self._ttl))

    async def delete_matching(self, pattern: str) -> int:
        await self._near.delete_matching(pattern)
        return await self._far.delete_matching(pattern)

    def scan(self, pattern: str) -> AsyncIterator[tuple[str, bytes]]:
        return self._far.scan(pattern)

    async def stats(self) -> dict[str, int]:
        return await self._far.stats()

    async def close(self) -> None:
        await self._near.close()
        await self._far.close()
