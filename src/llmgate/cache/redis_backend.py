"""The Redis backend: entries every replica shares, expiring with Redis's own TTL.

A key is a Redis string set with ``PX`` (its TTL in milliseconds). ``delete_matching`` and
``scan`` walk ``SCAN ... MATCH``, never ``KEYS`` (which blocks Redis); ``stats`` counts and
measures (``STRLEN``) the namespace's keys the same way, for ``llmgate cache stats`` only.

The client is ``redis.asyncio`` from a URL, as the rate limits and shared cooldowns connect
(``auth/limits.py``, ``routing/shared.py``), with short socket timeouts. This module does not
bound its own calls: the service (``service.py``) bounds each with ``llmgate.cache.lookup_timeout_ms``
(lookups) or a store timeout, and skips Redis while it fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

__all__ = ["RedisBackend"]

#: socket timeouts of the client itself (the service's own timeouts are much shorter on lookups)
SOCKET_TIMEOUT_S = 1.0
SCAN_COUNT = 500


class RedisBackend:
    name = "redis"

    def __init__(self, url: str, namespace_pattern: str = "*") -> None:
        self._redis: Any = aioredis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
        )
        self._own = namespace_pattern  # what stats counts: this config's namespace

    def peek(self, key: str) -> bytes | None:
        return None  # nothing is held in this process

    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(key)
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._redis.set(key, value, px=max(1, int(ttl_s * 1000)))

    async def delete_matching(self, pattern: str) -> int:
        gone = 0
        batch: list[Any] = []
        async for key in self._redis.scan_iter(match=pattern, count=SCAN_COUNT):
            batch.append(key)
            if len(batch) >= SCAN_COUNT:
                gone += int(await self._redis.unlink(*batch))
                batch = []
        if batch:
            gone += int(await self._redis.unlink(*batch))
        return gone

    async def scan(self, pattern: str) -> AsyncIterator[tuple[str, bytes]]:
        async for key in self._redis.scan_iter(match=pattern, count=SCAN_COUNT):
            value = await self._redis.get(key)
            if value is not None:
                yield (key.decode() if isinstance(key, bytes) else str(key)), bytes(value)

    async def stats(self) -> dict[str, int]:
        entries = size = 0
        keys: list[Any] = []

        async def measure() -> int:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.strlen(key)
                lengths = await pipe.execute()
            return sum(int(n) + len(k) for n, k in zip(lengths, keys, strict=True))

        async for key in self._redis.scan_iter(match=self._own, count=SCAN_COUNT):
            keys.append(key)
            entries += 1
            if len(keys) >= SCAN_COUNT:
                size += await measure()
                keys = []
        if keys:
            size += await measure()
        return {"entries": entries, "bytes": size}

    async def close(self) -> None:
        await self._redis.aclose()
