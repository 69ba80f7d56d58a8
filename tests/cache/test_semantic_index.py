"""The semantic index with the real embedder: paraphrases hit, everything else misses, and the
index expires, stays bounded, clears and comes back from its backend after a restart.

The paraphrase is a human-labelled duplicate pair of ``paraphrase_dev.jsonl`` (the pair, among
the first duplicates, whose similarity reaches the default threshold); those tests skip when the
shared data is absent. The backend is the in-process ``LocalBackend``.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, cast

import pytest

from llmgate.cache.keys import entry_key, space_key, space_pattern
from llmgate.cache.local import LocalBackend
from llmgate.cache.semantic_index import FaissSemanticIndex, build_semantic_index
from llmgate.cache.semantic_vectors import text_digest
from llmgate.config.cache_settings import DEFAULT_SIMILARITY_THRESHOLD, SemanticCacheSettings
from llmgate.errors import ConfigError
from support.shared_data import load_rows

if TYPE_CHECKING:
    from llmgate.quality.embedder import Embedder

NAMESPACE = "llmgate"
SPACE = space_key(NAMESPACE, "gpt", "team-a", "rest1")
OTHER_TEAM = space_key(NAMESPACE, "gpt", "team-b", "rest1")
QUESTION = "How do I open a business in USA?"
UNRELATED = "What is litmus paper made of?"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def key(name: str, space: str = SPACE) -> str:
    namespace, group, scope, _ = space.split(":")
    return entry_key(namespace, group, scope, name)


async def ready_index(
    embedder: Embedder, backend: LocalBackend | None = None, **kwargs: Any
) -> FaissSemanticIndex:
    kwargs.setdefault("max_entries", 1000)
    index = FaissSemanticIndex(
        threshold=DEFAULT_SIMILARITY_THRESHOLD,
        backend=backend or LocalBackend(64 * 1024 * 1024),
        namespace=NAMESPACE,
        embedder=embedder,
        **kwargs,
    )
    await index.start()
    assert await index.wait_ready()
    return index


@pytest.fixture(scope="module")
def paraphrase(shared_embedder: Embedder) -> tuple[str, str]:
    """A labelled duplicate pair, worded differently, whose similarity reaches the default."""
    for row in load_rows("paraphrase_dev.jsonl"):
        if row["duplicate"] and row["a"].strip().lower() != row["b"].strip().lower():
            a, b = shared_embedder.encode([row["a"], row["b"]])
            if float(a @ b) >= DEFAULT_SIMILARITY_THRESHOLD and len(
                set(row["a"].split()) ^ set(row["b"].split())
            ):
                return str(row["a"]), str(row["b"])
    pytest.fail("no duplicate pair of paraphrase_dev.jsonl reaches the default threshold")


async def test_a_paraphrase_hits_and_an_unrelated_question_or_another_space_misses(
    shared_embedder: Embedder, paraphrase: tuple[str, str]
) -> None:
    index = await ready_index(shared_embedder)
    index.add(SPACE, paraphrase[0], key("first"), 60)
    index.add(SPACE, UNRELATED, key("litmus"), 60)
    await index.drain()

    found = await index.find(SPACE, paraphrase[1])
    assert found is not None
    assert found[0] == key("first")
    assert DEFAULT_SIMILARITY_THRESHOLD <= found[1] < 1.0
    assert await index.find(SPACE, "What is the capital of Australia?") is None
    assert await index.find(OTHER_TEAM, paraphrase[1]) is None  # never across scopes
    assert await index.find(space_key(NAMESPACE, "gpt", "team-a", "rest2"), paraphrase[0]) is None
    await index.close()


class GatedEmbedder:
    """The shared embedder behind a gate: "loading" lasts until the test opens it."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.model_name = inner.model_name

    def encode(self, texts: list[str]) -> Any:
        if not self.gate.wait(30):
            raise TimeoutError("the test never opened the gate")
        return self.inner.encode(texts)


class BrokenEmbedder:
    model_name = "broken"

    def encode(self, texts: list[str]) -> Any:
        raise ConfigError("the quality extra is not installed")


async def test_a_lookup_while_the_embedder_loads_is_a_miss_not_a_wait(shared_embedder: Embedder) -> None:
    backend = LocalBackend(1024 * 1024)
    first = await ready_index(shared_embedder, backend)
    first.add(SPACE, QUESTION, key("q"), 60)
    await first.drain()
    await first.close()

    gated = GatedEmbedder(shared_embedder)
    index = FaissSemanticIndex(
        threshold=0.99, max_entries=10, backend=backend, namespace=NAMESPACE, embedder=cast(Any, gated)
    )
    await index.start()
    assert index.entries == 1 and not index.ready
    started = time.monotonic()
    assert await index.find(SPACE, QUESTION) is None  # still loading: a miss, at once
    assert time.monotonic() - started < 0.5
    gated.gate.set()
    assert await index.wait_ready()
    assert (await index.find(SPACE, QUESTION) or ("", 0.0))[0] == key("q")
    await index.close()


async def test_an_embedder_that_cannot_load_leaves_the_semantic_cache_off(caplog: Any) -> None:
    index = FaissSemanticIndex(
        threshold=0.99,
        max_entries=10,
        backend=LocalBackend(1024),
        namespace=NAMESPACE,
        embedder=cast(Any, BrokenEmbedder()),
    )
    await index.start()
    assert not await index.wait_ready()
    index.add(SPACE, QUESTION, key("q"), 60)
    await index.drain()
    assert await index.find(SPACE, QUESTION) is None
    assert index.entries == 0
    assert "semantic cache off" in caplog.text
    await index.close()


async def test_entries_expire_with_their_ttl(shared_embedder: Embedder) -> None:
    clock = Clock()
    index = await ready_index(shared_embedder, clock=clock)
    index.add(SPACE, QUESTION, key("short"), 10)
    index.add(SPACE, UNRELATED, key("long"), 100)
    await index.drain()
    assert await index.find(SPACE, QUESTION) is not None
    clock.now += 11
    assert await index.find(SPACE, QUESTION) is None
    assert await index.find(SPACE, UNRELATED) is not None
    assert index.entries == 1
    clock.now += 90
    assert await index.find(SPACE, UNRELATED) is None
    assert index.entries == 0
    await index.close()


async def test_the_index_is_bounded_and_the_oldest_go_first(shared_embedder: Embedder) -> None:
    index = await ready_index(shared_embedder, max_entries=3)
    questions = [f"What is the population of city number {n}?" for n in range(5)]
    for n, question in enumerate(questions):
        index.add(SPACE if n % 2 else OTHER_TEAM, question, key(f"q{n}"), 60)
        await index.drain()
    assert index.entries == 3
    assert await index.find(OTHER_TEAM, questions[0]) is None
    assert await index.find(SPACE, questions[1]) is None
    assert (await index.find(OTHER_TEAM, questions[2]) or ("", 0.0))[0] == key("q2")
    assert (await index.find(OTHER_TEAM, questions[4]) or ("", 0.0))[0] == key("q4")
    # the same text again replaces its entry rather than adding one
    index.add(OTHER_TEAM, questions[4], key("q4-again"), 60)
    await index.drain()
    assert index.entries == 3
    assert (await index.find(OTHER_TEAM, questions[4]) or ("", 0.0))[0] == key("q4-again")
    await index.close()


async def test_clear_forgets_matching_spaces_here_and_in_the_backend(shared_embedder: Embedder) -> None:
    backend = LocalBackend(1024 * 1024)
    index = await ready_index(shared_embedder, backend)
    index.add(SPACE, QUESTION, key("a"), 60)
    index.add(OTHER_TEAM, QUESTION, key("b", OTHER_TEAM), 60)
    await index.drain()
    assert [k async for k, _ in backend.scan("llmgate:v:gpt:team-a:*")] != []

    assert await index.clear(space_pattern(NAMESPACE, "gpt", "a")) == 1
    assert await index.find(SPACE, QUESTION) is None
    assert await index.find(OTHER_TEAM, QUESTION) is not None
    assert [k async for k, _ in backend.scan("llmgate:v:gpt:team-a:*")] == []
    assert len([k async for k, _ in backend.scan("llmgate:v:*")]) == 1
    await index.close()


async def test_a_restarted_index_is_rebuilt_from_its_backend(shared_embedder: Embedder) -> None:
    backend = LocalBackend(1024 * 1024)
    clock = Clock()
    before = await ready_index(shared_embedder, backend, clock=clock)
    before.add(SPACE, QUESTION, key("kept"), 600)
    before.add(SPACE, UNRELATED, key("expiring"), 5)
    await before.drain()
    stored = {k: v async for k, v in backend.scan("*:v:*")}
    assert len(stored) == 2
    assert all(k.startswith("llmgate:v:gpt:team-a:rest1:") for k in stored)
    await before.close()

    clock.now += 10  # the second vector's TTL is over
    after = FaissSemanticIndex(
        threshold=DEFAULT_SIMILARITY_THRESHOLD,
        max_entries=100,
        backend=backend,
        namespace=NAMESPACE,
        embedder=shared_embedder,
        clock=clock,
    )
    await after.start()
    assert after.entries == 1  # rebuilt before the model is needed
    await after.wait_ready()
    found = await after.find(SPACE, QUESTION)
    assert found is not None and found[0] == key("kept") and found[1] > 0.999
    assert await after.find(SPACE, UNRELATED) is None
    await after.close()


async def test_build_semantic_index_takes_the_configured_bound(shared_embedder: Embedder) -> None:
    index = build_semantic_index(
        SemanticCacheSettings(max_entries=2), 0.5, LocalBackend(1024 * 1024), NAMESPACE
    )
    assert isinstance(index, FaissSemanticIndex)
    assert index.threshold == 0.5
    await index.start()
    await index.wait_ready()
    for n in range(3):
        index.add(SPACE, f"question {n}", key(f"q{n}"), 60)
    await index.drain()
    assert index.entries == 2
    await index.close()


async def test_a_namespace_is_a_space_of_its_own(shared_embedder: Embedder) -> None:
    """A request's ``cache.namespace`` keeps its vectors apart; clearing one namespace leaves the other."""
    backend = LocalBackend(1024 * 1024)
    index = await ready_index(shared_embedder, backend)
    elsewhere = space_key("other", "gpt", "team-a", "rest1")
    index.add(SPACE, QUESTION, key("here"), 60)
    await index.drain()
    assert await index.find(SPACE, QUESTION) is not None
    assert await index.find(elsewhere, QUESTION) is None
    index.add(elsewhere, QUESTION, key("there", elsewhere), 60)
    await index.drain()
    assert (await index.find(elsewhere, QUESTION) or ("", 0.0))[0] == key("there", elsewhere)
    assert sorted([k async for k, _ in backend.scan("*:v:*")]) == sorted(
        [
            f"llmgate:v:gpt:team-a:rest1:{text_digest(QUESTION)}",
            f"other:v:gpt:team-a:rest1:{text_digest(QUESTION)}",
        ]
    )
    assert await index.clear(space_pattern("other")) == 1
    assert await index.find(elsewhere, QUESTION) is None
    assert (await index.find(SPACE, QUESTION) or ("", 0.0))[0] == key("here")
    assert [k async for k, _ in backend.scan("*:v:*")] == [
        f"llmgate:v:gpt:team-a:rest1:{text_digest(QUESTION)}"
    ]
    await index.close()


async def test_the_in_process_backend_holds_no_vectors(shared_embedder: Embedder) -> None:
    """Nothing in-process survives a restart: the vectors live in the index only, not in max_bytes."""
    backend = LocalBackend(1024 * 1024)
    index = build_semantic_index(SemanticCacheSettings(), DEFAULT_SIMILARITY_THRESHOLD, backend, NAMESPACE)
    assert isinstance(index, FaissSemanticIndex)
    await index.start()
    assert await index.wait_ready()
    await backend.set(key("answer"), b"x", 60)
    index.add(SPACE, QUESTION, key("answer"), 60)
    await index.drain()
    assert index.entries == 1
    assert (await index.find(SPACE, QUESTION) or ("", 0.0))[0] == key("answer")
    assert [k async for k, _ in backend.scan("*")] == [key("answer")]
    assert await index.clear(space_pattern(NAMESPACE)) == 1
    await index.close()


async def test_stats_tell_the_state_and_the_counts(shared_embedder: Embedder) -> None:
    gated = GatedEmbedder(shared_embedder)
    index = FaissSemanticIndex(
        threshold=0.99,
        max_entries=10,
        backend=LocalBackend(1024 * 1024),
        namespace=NAMESPACE,
        embedder=cast(Any, gated),
        max_pending=0,
    )
    await index.start()
    assert index.stats() == {"ready": False, "entries": 0, "busy": 0, "dropped": 0, "errors": 0, "rebuilt": 0}
    gated.gate.set()
    assert await index.wait_ready()
    index.add(SPACE, QUESTION, key("q"), 60)
    await index.drain()
    assert await index.find(SPACE, QUESTION) is None  # max_pending 0: busy
    assert index.stats() == {"ready": True, "entries": 1, "busy": 1, "dropped": 0, "errors": 0, "rebuilt": 0}
    await index.close()
