"""The semantic index on a real Redis (``LLMGATE_TEST_REDIS_URL``): a restarted gateway keeps its
semantic entries, a clear removes them from Redis too, and gateways of different namespaces on
one Redis never see each other's. A model group (or namespace) of its own keeps other tests' keys
apart."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from llmgate.cache.keys import entry_key, space_key, space_pattern
from llmgate.cache.redis_backend import RedisBackend
from llmgate.cache.semantic_index import FaissSemanticIndex, build_semantic_index
from llmgate.config.cache_settings import SemanticCacheSettings

if TYPE_CHECKING:
    from llmgate.quality.embedder import Embedder

pytestmark = pytest.mark.redis

QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"


async def test_a_restarted_index_finds_what_the_first_one_stored_in_redis(
    redis_url: str, shared_embedder: Embedder
) -> None:
    group = f"test-{os.urandom(4).hex()}"
    space = space_key("llmgate", group, "team-a", "rest")
    key = entry_key("llmgate", group, "team-a", "answer")
    first = FaissSemanticIndex(
        threshold=0.99,
        max_entries=100,
        backend=RedisBackend(redis_url),
        namespace="llmgate",
        embedder=shared_embedder,
    )
    await first.start()
    assert await first.wait_ready()
    first.add(space, QUESTION, key, 60)
    await first.drain()
    await first.close()
    await first.backend.close()

    backend = RedisBackend(redis_url)
    second = FaissSemanticIndex(
        threshold=0.99, max_entries=100_000, backend=backend, namespace="llmgate", embedder=shared_embedder
    )
    try:
        await second.start()
        assert await second.wait_ready()
        found = await second.find(space, PARAPHRASE)
        assert found is not None and found[0] == key and found[1] >= 0.99
        assert await second.clear(space_pattern("llmgate", group)) == 1
        assert [k async for k, _ in backend.scan(f"llmgate:v:{group}:*")] == []
        assert await second.find(space, PARAPHRASE) is None
    finally:
        await second.close()
        await backend.delete_matching(f"*:v:{group}:*")
        await backend.close()


async def test_two_namespaces_on_one_redis_never_see_each_others_vectors(
    redis_url: str, shared_embedder: Embedder
) -> None:
    """Two gateways (their indexes as ``build.py`` makes them) on one Redis, namespaces a and b."""
    tag = os.urandom(4).hex()
    names = (f"test-a-{tag}", f"test-b-{tag}")
    backends = [RedisBackend(redis_url) for _ in names]
    indexes = [
        build_semantic_index(SemanticCacheSettings(), 0.99, backend, namespace)
        for backend, namespace in zip(backends, names, strict=True)
    ]
    for index in indexes:
        assert isinstance(index, FaissSemanticIndex)
        index._embedder = shared_embedder  # the loaded model, not a second copy of it
    spaces = [space_key(namespace, "gpt", "team-a", "rest") for namespace in names]
    try:
        first, second = indexes
        await first.start()
        assert await first.wait_ready()
        first.add(spaces[0], QUESTION, entry_key(names[0], "gpt", "team-a", "answer"), 60)
        await first.drain()
        assert [k async for k, _ in backends[0].scan(f"{names[0]}:v:*")] != []

        await second.start()  # rebuilds from its own namespace only
        assert await second.wait_ready()
        assert second.entries == 0 and second.counts["rebuilt"] == 0
        assert await second.find(spaces[1], PARAPHRASE) is None
        assert await second.clear(space_pattern(names[1])) == 0  # clears its namespace only
        assert len([k async for k, _ in backends[0].scan(f"{names[0]}:v:*")]) == 1

        again = build_semantic_index(SemanticCacheSettings(), 0.99, backends[0], names[0])
        assert isinstance(again, FaissSemanticIndex)
        again._embedder = shared_embedder
        await again.start()
        assert again.entries == 1 and again.counts["rebuilt"] == 1
        await again.close()
    finally:
        for index in indexes:
            await index.close()
        for backend, namespace in zip(backends, names, strict=True):
            await backend.delete_matching(f"{namespace}:*")
            await backend.close()
