"""The seams of the response cache: where entries live (``CacheBackend``) and how a semantic
lookup finds an earlier request (``SemanticIndex``).

Keys are strings laid out as ``{namespace}:{kind}:{model group}:{scope}:{digest}`` so that
``clear`` by model group or by team is a pattern, in-process and in Redis alike. ``kind`` is
``e`` for an exact entry (the stored answer) and ``v`` for a semantic vector (which points at an
exact entry). Values are bytes; a backend never interprets them.

A backend that fails or is slow never fails a request: the service (``service.py``) bounds every
call with a timeout of a few milliseconds, skips the cache on an error, and counts and logs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol


class CacheBackend(Protocol):
    """Where entries live: in-process (bounded in bytes, LRU) or Redis (shared by every replica)."""

    name: str  # "local" or "redis"

    async def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or None (absent or expired)."""

    def peek(self, key: str) -> bytes | None:
        """The value of ``key`` if this process holds it in memory (no I/O, never waits), else None:
        read before ``get``, outside the service's bounds, so a failing Redis does not hide it."""

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds."""

    async def delete_matching(self, pattern: str) -> int:
        """Delete every key matching the glob ``pattern`` (``*`` only); how many went."""

    def scan(self, pattern: str) -> AsyncIterator[tuple[str, bytes]]:
        """Every (key, value) whose key matches the glob ``pattern`` (rebuilding an index at start)."""

    async def stats(self) -> dict[str, int]:
        """``entries`` and ``bytes`` held (for ``llmgate cache stats``)."""

    async def close(self) -> None: ...


class VectorFeed(Protocol):
    """How replicas share the semantic vectors they add while they run (Redis pub/sub:
    ``semantic_sync.py``): announce a stored vector's key, and receive the others' (key, value)."""

    async def publish(self, key: str) -> None:
        """Tell the other replicas a vector is stored under ``key``."""

    def start(self, receive: Callable[[str, bytes], Awaitable[None]]) -> None:
        """Listen in the background; ``receive`` gets each other replica's stored vector."""

    async def close(self) -> None: ...


class SemanticIndex(Protocol):
    """Nearest earlier last user turn in a space: the requests whose everything-else matched exactly.

    ``space`` names one (namespace, model group, scope, rest-of-request digest: ``keys.space_key``);
    a hit is never found across spaces. ``find`` embeds off the event loop; ``add`` returns at once (the
    embedding and insert happen in the background).
    """

    async def find(self, space: str, text: str) -> tuple[str, float] | None:
        """The exact-entry key of the nearest earlier request in ``space`` and its cosine
        similarity, if it reaches the threshold; else None."""

    def add(self, space: str, text: str, entry_key: str, ttl_s: float) -> None:
        """Remember ``text`` as pointing at ``entry_key`` for ``ttl_s`` seconds (in the background)."""

    async def clear(self, pattern: str) -> int:
        """Forget the vectors whose space matches ``pattern`` (``keys.space_pattern``); how many went."""

    async def start(self) -> None:
        """Rebuild the index from the backend's persisted vectors (its namespace's)."""

    def stats(self) -> dict[str, int | bool]:
        """``ready``, ``entries`` and its counts: ``busy``, ``dropped``, ``errors``, ``rebuilt``."""

    async def close(self) -> None: ...
