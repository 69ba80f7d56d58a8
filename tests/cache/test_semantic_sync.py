"""Replicas sharing new semantic vectors live over Redis pub/sub (``LLMGATE_TEST_REDIS_URL``): a
question stored on one running index is found (as a paraphrase) on another running one without a
restart, never in another namespace, and a closed index no longer listens. A namespace of its own
keeps other tests' keys and channels apart."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from llmgate.cache.build import build_cache
from llmgate.cache.keys import entry_key, space_key
from llmgate.cache.redis_backend import RedisBackend
from llmgate.cache.semantic_index import FaissSemanticIndex
from llmgate.cache.semantic_sync import RedisVectorSync, sync_channel
from llmgate.config import parse_config

if TYPE_CHECKING:
    from llmgate.quality.embedder import Embedder

pytestmark = pytest.mark.redis

QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
TASK_PREFIX = "llmgate-semantic-sync"


def _index(redis_url: str, namespace: str, embedder: Embedder) -> FaissSemanticIndex:
    return FaissSemanticIndex(
        threshold=0.99,
        max_entries=100,
        backend=RedisBackend(redis_url),
        namespace=namespace,
        feed=RedisVectorSync(redis_url, namespace),
        embedder=embedder,
    )


async def _within(seconds: float, condition: Callable[[], Awaitable[bool]]) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.05)
    return False


def _listeners() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith(TASK_PREFIX) and not t.done()]


async def test_a_running_replica_finds_what_another_one_just_stored(
    redis_url: str, shared_embedder: Embedder
) -> None:
    tag = os.urandom(4).hex()
    namespace, elsewhere = f"test-sync-{tag}", f"test-sync-other-{tag}"
    a, b = _index(redis_url, namespace, shared_embedder), _index(redis_url, namespace, shared_embedder)
    other = _index(redis_url, elsewhere, shared_embedder)
    space, key = (
        space_key(namespace, "gpt", "team-a", "rest"),
        entry_key(namespace, "gpt", "team-a", "answer"),
    )
    redis = RedisBackend(redis_url)
    channel = sync_channel(namespace)

    async def subscribers(expected: int) -> bool:
        counts = await redis._redis.pubsub_numsub(channel)
        return int(counts[0][1]) == expected

    try:
        for index in (a, b, other):
            await index.start()
            assert await index.wait_ready()
        assert b.entries == 0  # nothing stored before: B can only learn it live
        assert await _within(2.0, lambda: subscribers(2))
        assert len(_listeners()) == 3

        a.add(space, QUESTION, key, 60)
        await a.drain()

        async def b_finds() -> bool:
            return await b.find(space, PARAPHRASE) is not None

        assert await _within(2.0, b_finds), "B never took in A's vector"
        found = await b.find(space, PARAPHRASE)
        assert found is not None and found[0] == key and found[1] >= 0.99
        assert b.counts["rebuilt"] == 0 and b.counts["errors"] == 0
        assert a.entries == 1 and a.counts["errors"] == 0  # A skipped its own announcement
        await asyncio.sleep(0.3)
        assert other.entries == 0  # another namespace's index never receives it
        assert await other.find(space_key(elsewhere, "gpt", "team-a", "rest"), PARAPHRASE) is None

        await b.close()
        assert len(_listeners()) == 2  # B's subscriber is gone, at once
        assert await _within(2.0, lambda: subscribers(1))  # and Redis no longer counts it
    finally:
        for index in (a, b, other):
            await index.close()
            await index.backend.close()
        assert _listeners() == []
        await redis.delete_matching(f"{namespace}:*")
        await redis.delete_matching(f"{elsewhere}:*")
        await redis.close()


async def test_a_redis_semantic_cache_shares_its_vectors(tmp_path: Path, redis_url: str) -> None:
    """``build_cache`` gives a Redis-backed semantic index its feed, on the config's namespace."""
    config = parse_config(
        {
            "model_list": [
                {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "k"}}
            ],
            "litellm_settings": {
                "cache": True,
                "cache_params": {"type": "redis-semantic", "redis_url": redis_url, "namespace": "team one"},
            },
        },
        base_dir=tmp_path,
    )
    cache = build_cache(config, deployment=lambda _: None)
    assert cache is not None
    index = cache._index
    assert isinstance(index, FaissSemanticIndex)
    assert isinstance(index._feed, RedisVectorSync) and index._feed.channel == "team%20one:v:new"
    await cache.close()


async def test_a_subscriber_without_redis_keeps_retrying_and_stops_on_close() -> None:
    """No Redis (a closed port): the listener retries with a backoff, never raises, and closes."""
    feed = RedisVectorSync("redis://127.0.0.1:1/0", "test-sync-down")

    async def receive(key: str, value: bytes) -> None:
        raise AssertionError("nothing can arrive")

    feed.start(receive)
    assert await _within(2.0, _true_when(lambda: feed.counts["reconnects"] >= 1))
    assert feed.running and len(_listeners()) == 1
    await feed.close()
    assert not feed.running and _listeners() == []


def _true_when(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def condition() -> bool:
        return check()

    return condition
