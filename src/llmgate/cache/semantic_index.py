"""The semantic cache's index: the last user turns of earlier requests, as vectors, per space.

A *space* (``{namespace}:{model group}:{scope}:{digest of the rest of the request}``,
``keys.space_key``) holds the requests whose everything-but-the-last-user-turn was equal, in one
namespace (the config's or the request's ``cache.namespace``, as the exact entry's key has it); a
hit is only ever found inside one space, so never across namespaces, scopes, system prompts or
parameters. Each space is a faiss inner-product index (``semantic_spaces.py``) over unit vectors
of the shared embedder (``llmgate.quality.embedder``, the packaged all-MiniLM-L6-v2, made as the
monitors make it), so the score is the cosine; a hit needs ``similarity ≥ threshold``
(``DEFAULT_SIMILARITY_THRESHOLD``, measured in ``benchmarks/cache_threshold.py`` with the same
model in the same float32 precision). It runs one torch thread and faiss one OpenMP thread: a
lookup is one short text, which more threads hardly speed up when idle and slow down badly when
busy (``benchmarks/cache_semantic.py``).

- Off the event loop: embedding, search and every change to the index run on one dedicated
  worker thread, in order. The model loads there in the background from ``start()``; until it
  is loaded ``find`` is a miss (never a stalled request), and so is a lookup while more than
  ``max_pending`` others are queued.
- Bounded and expiring (``semantic_spaces.py``): at most ``max_entries`` vectors over all spaces,
  the oldest going first; an entry lives as long as the exact entry it points at (its TTL).
- Persisted, on a shared backend (Redis) only: each vector is also written to it
  (``semantic_vectors.py``: key ``{namespace}:v:{model group}:{scope}:{digest}:{text digest}``)
  with the entry's TTL, and ``start()`` rebuilds the index from the config's namespace's
  (``{namespace}:v:*``), so a gateway restarted on the same Redis keeps its semantic entries and
  gateways of other namespaces on that Redis never see them. Each replica's index holds what it
  added since it started plus what was stored before, plus what the other replicas of its
  namespace add while it runs: given a ``VectorFeed`` (``semantic_sync.py``, Redis pub/sub), it
  announces each vector it persists and takes in the others' (never announcing them again); one
  that was disconnected catches up at its next start. On the in-process backend nothing would
  survive a restart, so the vectors are kept in the index only (not twice inside ``max_bytes``).
- ``stats()``: ready, entries, and the counts of lookups refused as busy, additions dropped,
  errors and vectors rebuilt at start (``llmgate cache stats``).

faiss and numpy (the ``monitors`` extra) are imported inside the functions that need
them: a gateway without the semantic cache never loads them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from llmgate.cache.base import CacheBackend, SemanticIndex, VectorFeed
from llmgate.cache.keys import match_pattern
from llmgate.cache.semantic_spaces import Spaces
from llmgate.cache.semantic_vectors import (
    StoredVector,
    decode_vector,
    encode_vector,
    text_digest,
    vector_key,
    vector_pattern,
)
from llmgate.config.cache_settings import SemanticCacheSettings
from llmgate.quality.embedder import DEFAULT_MODEL, TextEmbedder, make_embedder

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["FaissSemanticIndex", "build_semantic_index", "semantic_embedder"]

log = logging.getLogger("llmgate.cache")

#: lookups queued on the worker beyond which a lookup is a miss rather than a wait
DEFAULT_MAX_PENDING = 32
#: torch threads of the semantic cache's embedder (see the module docstring)
EMBED_THREADS = 1
#: background additions in flight beyond which an addition is dropped
MAX_PENDING_ADDS = 1024
#: how long a background write of a vector to the backend may take
BACKEND_TIMEOUT_S = 2.0
#: how long closing waits for the additions under way
CLOSE_WAIT_S = 1.0


def build_semantic_index(
    settings: SemanticCacheSettings,
    threshold: float,
    backend: CacheBackend,
    namespace: str,
    feed: VectorFeed | None = None,
) -> SemanticIndex:
    """The semantic index of ``llmgate.cache.semantic`` (``max_entries``) over ``backend``, rebuilt
    from ``namespace``'s vectors; they are persisted only in a shared backend (Redis), and then
    shared live with the other replicas through ``feed``."""
    return FaissSemanticIndex(
        threshold=threshold,
        max_entries=settings.max_entries,
        backend=backend,
        namespace=namespace,
        persist=backend.name == "redis",
        feed=feed,
    )


def _one_faiss_thread() -> None:
    """One query at a time: faiss's OpenMP threads only add wake-ups (the worker thread's own setting)."""
    try:
        # faiss (optional, heavy): only on the semantic index's worker thread
        import faiss
    except ImportError:  # reported once by the loader
        return
    faiss.omp_set_num_threads(1)


def semantic_embedder() -> TextEmbedder:
    """The embedder the semantic cache uses: the packaged model, float32, one thread (loads lazily)."""
    return make_embedder(None, threads=EMBED_THREADS, precision="float32")


class FaissSemanticIndex:
    """``SemanticIndex`` on faiss and the shared embedder; see the module docstring."""

    def __init__(
        self,
        *,
        threshold: float,
        max_entries: int,
        backend: CacheBackend,
        namespace: str,
        persist: bool = True,
        feed: VectorFeed | None = None,
        embedder: TextEmbedder | None = None,
        clock: Callable[[], float] = time.time,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self.threshold = threshold
        self.backend = backend
        self.namespace = namespace
        self.persist = persist  # False: the vectors live in the index only (an in-process backend)
        self._feed = feed if persist else None  # shares what is persisted, only
        self.max_pending = max_pending
        self._embedder = embedder
        self._vectors = Spaces(max_entries, clock)
        self._clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._loading: asyncio.Future[None] | None = None
        self._ready = False
        self._failed = False
        self._closed = False
        self._pending = 0
        self._adds: set[asyncio.Task[None]] = set()
        self.counts = {"busy": 0, "dropped": 0, "errors": 0, "rebuilt": 0}

    @property
    def ready(self) -> bool:
        """Is the embedder loaded (lookups can hit)?"""
        return self._ready

    @property
    def entries(self) -> int:
        return len(self._vectors.entries)

    def stats(self) -> dict[str, int | bool]:
        """Ready, entries, and the counts (busy, dropped, errors, rebuilt)."""
        return {"ready": self._ready, "entries": self.entries, **self.counts}

    def _run(self, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="llmgate-semantic", initializer=_one_faiss_thread
            )
        return asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _begin_loading(self) -> None:
        if self._loading is None and not self._closed:
            self._loading = self._run(self._load)

    def _load(self) -> None:
        try:
            if self._embedder is None:
                self._embedder = semantic_embedder()
            self._embedder.encode(["warm up"])  # loads the model and its first forward pass
            # faiss (optional, heavy): fail here, once, rather than on every request
            import faiss  # noqa: F401
        except Exception as exc:  # a missing extra or a broken model: the semantic cache stays off
            self._failed = True
            log.warning("semantic cache off: the embedder or faiss cannot load (%s)", exc)
            return
        self._ready = True

    async def wait_ready(self) -> bool:
        """Wait until the embedder is loaded (or failed to); True when lookups can hit."""
        self._begin_loading()
        if self._loading is not None:
            await asyncio.shield(self._loading)
        return self._ready

    def _embed(self, text: str) -> FloatArray:
        assert self._embedder is not None
        vector: FloatArray = self._embedder.encode([text])[0]
        return vector

    # --- the SemanticIndex protocol ------------------------------------------------------------

    async def find(self, space: str, text: str) -> tuple[str, float] | None:
        if not self._ready:
            self._begin_loading()
            return None
        if space not in self._vectors.spaces:
            return None  # nothing to compare with: no embedding needed
        if self._pending >= self.max_pending:
            self.counts["busy"] += 1
            return None
        self._pending += 1
        try:
            found: tuple[str, float] | None = await self._run(self._find_now, space, text)
        except Exception as exc:
            self.counts["errors"] += 1
            log.warning("semantic cache lookup failed: %s", exc)
            return None
        finally:
            self._pending -= 1
        return found

    def _find_now(self, space: str, text: str) -> tuple[str, float] | None:
        best = self._vectors.search(space, self._embed(text))
        if best is None or best[1] < self.threshold:
            return None
        return best

    def add(self, space: str, text: str, entry_key: str, ttl_s: float) -> None:
        if self._failed or self._closed or ttl_s <= 0:
            return
        if len(self._adds) >= MAX_PENDING_ADDS:
            self.counts["dropped"] += 1
            return
        self._begin_loading()
        task = asyncio.get_running_loop().create_task(self._add(space, text, entry_key, ttl_s))
        self._adds.add(task)
        task.add_done_callback(self._adds.discard)

    async def drain(self) -> None:
        """Wait until the additions under way are in the index and the backend."""
        while self._adds:
            await asyncio.wait(set(self._adds))

    async def _add(self, space: str, text: str, entry_key: str, ttl_s: float) -> None:
        try:
            stored = await self._run(self._add_now, space, text, entry_key, self._clock() + ttl_s)
            if stored is not None and self.persist:
                key, value = stored
                await asyncio.wait_for(self.backend.set(key, value, ttl_s), BACKEND_TIMEOUT_S)
                if self._feed is not None:
                    await asyncio.wait_for(self._feed.publish(key), BACKEND_TIMEOUT_S)
        except Exception as exc:  # the cache never fails a request, even one that is over
            self.counts["errors"] += 1
            log.warning("semantic cache: storing a vector failed: %s", exc)

    def _add_now(self, space: str, text: str, entry_key: str, expires: float) -> tuple[str, bytes] | None:
        if not self._ready:
            return None  # the embedder could not load (logged once): the semantic cache is off
        vector = self._embed(text)
        digest = text_digest(text)
        key = vector_key(space, digest)
        self._vectors.insert(space, digest, vector, entry_key, expires)
        assert self._embedder is not None
        return key, encode_vector(entry_key, expires, self._embedder.model_name, digest, vector)

    async def clear(self, pattern: str) -> int:
        """Forget the vectors whose space (``{namespace}:{model group}:{scope}:{digest}``, so only
        in the namespace ``pattern`` names) matches the glob ``pattern``, here and in the backend;
        how many went."""
        here: int = await self._run(self._vectors.remove_matching, pattern)
        if not self.persist:
            return here
        try:
            stored = await self.backend.delete_matching(vector_pattern(pattern))
        except Exception as exc:
            self.counts["errors"] += 1
            log.warning("semantic cache: clearing %s in the backend failed: %s", pattern, exc)
            stored = 0
        return max(here, stored)

    async def start(self) -> None:
        """Rebuild the index from the backend (the namespace's vectors; nothing to rebuild when they
        are not persisted), start taking in the other replicas' new ones (with a feed), and load
        the embedder in the background.

        The rebuild (no embedding: the vectors are stored) runs on the worker before the model
        loads, so ``start`` returns as soon as the index is back, not when the model is."""
        try:
            found = [item async for item in self._stored()] if self.persist else []
        except Exception as exc:  # a backend down at start: begin empty
            self.counts["errors"] += 1
            log.warning("semantic cache: rebuilding the index from %s failed: %s", self.backend.name, exc)
            found = []
        if self._feed is not None and not self._closed:
            self._feed.start(self._receive)
        found.sort(key=lambda item: item.expires_at)  # oldest first, so the bound keeps the newest
        restored = self._run(self._restore, found[-self._vectors.max_entries :]) if found else None
        self._begin_loading()
        if restored is not None:
            await restored
        self.counts["rebuilt"] = len(found)

    async def _stored(self) -> AsyncIterator[StoredVector]:
        now = self._clock()
        model = self._embedder.model_name if self._embedder is not None else DEFAULT_MODEL
        async for key, value in self.backend.scan(match_pattern(self.namespace, "v")):
            stored = decode_vector(key, value, model, now)
            if stored is not None:
                yield stored

    def _restore(self, found: list[StoredVector]) -> None:
        for item in found:
            self._vectors.insert(item.space, item.digest, item.vector, item.entry_key, item.expires_at)

    async def _receive(self, key: str, value: bytes) -> None:
        """Another replica's new vector (from the feed): kept unless it is expired, of another
        model, or held already; never announced again. Never raises into the feed."""
        if self._failed or self._closed:
            return
        model = self._embedder.model_name if self._embedder is not None else DEFAULT_MODEL
        try:
            stored = decode_vector(key, value, model, self._clock())
            if stored is not None:
                await self._run(self._take, stored)
        except Exception as exc:
            self.counts["errors"] += 1
            log.warning("semantic cache: taking in another replica's vector failed: %s", exc)

    def _take(self, item: StoredVector) -> None:
        if not self._vectors.holds(item.space, item.digest, item.entry_key, item.expires_at):
            self._vectors.insert(item.space, item.digest, item.vector, item.entry_key, item.expires_at)

    async def close(self) -> None:
        """Finish the additions under way (briefly: at most ``CLOSE_WAIT_S``), then stop taking in
        the other replicas' vectors and stop the worker (a model still loading finishes in the
        background)."""
        self._closed = True
        if self._adds:
            _, late = await asyncio.wait(set(self._adds), timeout=CLOSE_WAIT_S)
            for task in late:
                task.cancel()
        if self._feed is not None:
            await self._feed.close()  # unsubscribes
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
