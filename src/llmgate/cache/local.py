"""The in-process backend: a dict in least-recently-used order, bounded in bytes, with expiry.

One process's own cache (``llmgate.cache.max_bytes``, 256 MiB by default): each entry counts its
key's and value's length; storing past the bound evicts the least recently used entries first.
An expired entry is dropped when it is next read or scanned. Every operation is a dict operation
on the event loop: nothing here waits, so nothing here can be slow.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from fnmatch import fnmatchcase

__all__ = ["LocalBackend"]

#: what an entry costs beyond its key and value (the dict slot, the tuple, two objects)
OVERHEAD_BYTES = 64


class LocalBackend:
    name = "local"

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._items: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # key -> (value, expires at)
        self._bytes = 0

    @staticmethod
    def _size(key: str, value: bytes) -> int:
        return len(key) + len(value) + OVERHEAD_BYTES

    def _drop(self, key: str) -> None:
        value, _ = self._items.pop(key)
        self._bytes -= self._size(key, value)

    async def get(self, key: str) -> bytes | None:
        return self.peek(key)

    def peek(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return item[0]

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        size = self._size(key, value)
        if key in self._items:
            self._drop(key)
        if size > self._max:
            return  # larger than the whole cache: not kept
        while self._bytes + size > self._max:
            self._drop(next(iter(self._items)))  # the least recently used
        self._items[key] = (value, time.monotonic() + ttl_s)
        self._bytes += size

    async def delete_matching(self, pattern: str) -> int:
        gone = [key for key in self._items if fnmatchcase(key, pattern)]
        for key in gone:
            self._drop(key)
        return len(gone)

    async def scan(self, pattern: str) -> AsyncIterator[tuple[str, bytes]]:
        now = time.monotonic()
        for key, (value, expires) in list(self._items.items()):
            if expires > now and fnmatchcase(key, pattern):
                yield key, value

    async def stats(self) -> dict[str, int]:
        now = time.monotonic()
        for key in [k for k, (_, expires) in self._items.items() if expires <= now]:
            self._drop(key)
        return {"entries": len(self._items), "bytes": self._bytes}

    async def close(self) -> None:
        self._items.clear()
        self._bytes = 0
