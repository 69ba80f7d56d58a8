"""The semantic index on a real Redis (``LLMGATE_TEST_REDIS_URL``): a restarted gateway keeps its
semantic entries, and a clear removes them from Redis too. A model group of its own keeps other
tests' keys apart."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from llmgate.cache.keys import entry_key, space_key
from llmgate.cache.redis_backend import RedisBackend
from llmgate.cache.semantic_index import FaissSemanticIndex

if TYPE_CHECKING:
    from llmgate.quality.embedder import Embedder

pytestmark = pytest.mark.redis

QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"


async def test_a_restarted_index_finds_what_the_first_one_stored_in_redis(
    redis_url: str, shared_embedder: Embedder
) -> None:
    group = f"test-{os.urandom(4).hex()}"
    space = space_key(group, "team-a", "rest")
    key = entry_key("llmgate", group, "team-a", "answer")
    first = FaissSemanticIndex(
        threshold=0.99, max_entries=100, backend=RedisBackend(redis_url), embedder=shared_embedder
    )
    await first.start()
    assert await first.wait_ready()
    first.add(space, QUESTION, key, 60)
    await first.drain()
    await first.close()
    await first.backend.close()

    backend = RedisBackend(redis_url)
    second = FaissSemanticIndex(
        threshold=0.99, max_entries=100_000, backend=backend, embedder=shared_embedder
    )
    try:
        await second.start()
        assert await second.wait_ready()
        found = await second.find(space, PARAPHRASE)
        assert found is not None and found[0] == key and found[1] >= 0.99
        assert await second.clear(f"{group}:*") == 1
        assert [k async for k, _ in backend.scan(f"llmgate:v:{group}:*")] == []
        assert await second.find(space, PARAPHRASE) is None
    finally:
        await second.close()
        await backend.delete_matching(f"*:v:{group}:*")
        await backend.close()
