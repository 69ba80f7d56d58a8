"""The semantic cache's index: the last user turns of earlier requests, as vectors, per space.

A *space* (``{model group}:{scope}:{digest of the rest of the request}``, ``keys.space_key``) holds
the requests whose everything-but-the-last-user-turn was equal; a hit is only ever found inside
one space, so never across scopes, system prompts or parameters. Each space is a faiss
inner-product index (``IndexFlatIP``: exact search) over unit vectors of the shared embedder
(``llmgate.quality.embedder``, the packaged all-MiniLM-L6-v2, made as the monitors make it), so
the score is the cosine; a hit needs ``similarity ≥ threshold`` (``DEFAULT_SIMILARITY_THRESHOLD``,
measured in ``benchmarks/cache_threshold.py`` with the same model in the same float32 precision).
It runs one torch thread and faiss one OpenMP thread: a lookup is one short text, which more
threads hardly speed up when idle and slow down badly when busy (``benchmarks/cache_semantic.py``).

- Off the event loop: embedding, search and every change to the index run on one dedicated
  worker thread, in order. The model loads there in the background from ``start()``; until it
  is loaded ``find`` is a miss (never a stalled request), and so is a lookup while more than
  ``max_pending`` others are queued.
- Bounded: at most ``max_entries`` vectors over all spaces; past it the oldest go. Rows that
  went (evicted, expired, replaced, cleared) are skipped by searches and compacted away once a
  space holds as many dead rows as live ones.
- Expiring: an entry lives as long as the exact entry it points at (its TTL); an expired one
  is never returned and is swept out within ``SWEEP_S``.
- Persisted: each vector is also written to the backend (``semantic_vectors.py``: key
  ``{namespace}:v:{space}:{text digest}``) with the entry's TTL, and ``start()`` rebuilds the
  index from those (``scan``), so a gateway restarted on the same Redis keeps its semantic
  entries. Each replica's index holds what it added since it started plus what was stored before.

faiss and numpy (the ``monitors`` extra) are imported inside the functions that need
them: a gateway without the semantic cache never loads them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from llmgate.cache.base import CacheBackend, SemanticIndex
from llmgate.cache.semantic_vectors import StoredVector, decode_vector, encode_vector, text_digest, vector_key
from llmgate.config.cache_settings import SemanticCacheSettings
from llmgate.quality.embedder import DEFAULT_MODEL, TextEmbedder, make_embedder

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["FaissSemanticIndex", "build_semantic_index", "semantic_embedder"]

log = logging.getLogger("llmgate.cache")

#: how often expired entries are swept out of the index (seconds)
SWEEP_S = 30.0
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
    settings: SemanticCacheSettings, threshold: float, backend: CacheBackend
) -> SemanticIndex:
    """The semantic index of ``llmgate.cache.semantic`` (``max_entries``) over ``backend``."""
    return FaissSemanticIndex(threshold=threshold, max_entries=settings.max_entries, backend=backend)


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


@dataclass(slots=True)
class _Entry:
    space: str
    digest: str
    entry_key: str
    expires_at: float  # wall clock, so that it survives a restart
    row: int


@dataclass(slots=True)
class _Space:
    index: Any  # faiss.IndexFlatIP
    rows: list[int] = field(default_factory=list)  # row -> entry id, -1 once dead
    by_digest: dict[str, int] = field(default_factory=dict)  # text digest -> entry id
    dead: int = 0


class _Vectors:
    """The spaces and their entries; used by the worker thread only."""

    def __init__(self, max_entries: int, clock: Callable[[], float]) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self.spaces: dict[str, _Space] = {}
        self.entries: OrderedDict[int, _Entry] = OrderedDict()  # oldest first
        self._next_id = 0
        self._next_sweep = clock() + SWEEP_S

    def insert(self, space: str, digest: str, vector: FloatArray, entry_key: str, expires: float) -> None:
        # faiss, numpy (optional, heavy): only once the semantic cache stores a vector
        import faiss
        import numpy as np

        target = self.spaces.get(space)
        if target is None:
            target = self.spaces[space] = _Space(faiss.IndexFlatIP(int(vector.shape[0])))
        elif target.index.d != vector.shape[0]:
            return  # a vector of another model: never compared
        if digest in target.by_digest:  # the same text again: the newer entry replaces it
            self._kill(target.by_digest[digest])
            target = self.spaces.setdefault(space, _Space(faiss.IndexFlatIP(int(vector.shape[0]))))
        entry_id = self._next_id
        self._next_id += 1
        target.index.add(np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32))
        target.rows.append(entry_id)
        target.by_digest[digest] = entry_id
        self.entries[entry_id] = _Entry(space, digest, entry_key, expires, len(target.rows) - 1)
        while len(self.entries) > self.max_entries:
            self._kill(next(iter(self.entries)))
        if self.clock() >= self._next_sweep:
            self.sweep()

    def search(self, space: str, vector: FloatArray) -> tuple[str, float] | None:
        """The best live entry of ``space`` and its similarity."""
        # numpy (optional, heavy): on the worker thread, for a space that has vectors
        import numpy as np

        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        now = self.clock()
        k = 8
        while (target := self.spaces.get(space)) is not None:
            total, rows = target.index.ntotal, target.rows  # a kill below may compact the space
            scores, found = target.index.search(query, min(k, total))
            for score, row in zip(scores[0], found[0], strict=True):
                entry = self.entries.get(rows[row]) if row >= 0 else None
                if entry is None:
                    continue
                if entry.expires_at <= now:
                    self._kill(rows[row])
                    continue
                return entry.entry_key, min(1.0, float(score))
            if k >= total:
                return None
            k *= 4
        return None

    def remove_matching(self, pattern: str) -> int:
        gone = [entry_id for entry_id, entry in self.entries.items() if fnmatchcase(entry.space, pattern)]
        for entry_id in gone:
            self._kill(entry_id)
        return len(gone)

    def sweep(self) -> None:
        now = self.clock()
        self._next_sweep = now + SWEEP_S
        for entry_id in [i for i, entry in self.entries.items() if entry.expires_at <= now]:
            self._kill(entry_id)

    def _kill(self, entry_id: int) -> None:
        entry = self.entries.pop(entry_id, None)
        if entry is None:
            return
        target = self.spaces[entry.space]
        target.rows[entry.row] = -1
        target.dead += 1
        if target.by_digest.get(entry.digest) == entry_id:
            del target.by_digest[entry.digest]
        live = len(target.rows) - target.dead
        if live == 0:
            del self.spaces[entry.space]
        elif target.dead >= max(8, live):
            self._compact(entry.space, target)

    def _compact(self, name: str, target: _Space) -> None:
        # faiss (optional, heavy): rebuilding a space's index without its dead rows
        import faiss

        keep = [row for row, entry_id in enumerate(target.rows) if entry_id >= 0]
        vectors = target.index.reconstruct_n(0, target.index.ntotal)[keep]
        index = faiss.IndexFlatIP(target.index.d)
        index.add(vectors)
        rows = [target.rows[row] for row in keep]
        for row, entry_id in enumerate(rows):
            self.entries[entry_id].row = row
        self.spaces[name] = _Space(index, rows, target.by_digest, 0)


class FaissSemanticIndex:
    """``SemanticIndex`` on faiss and the shared embedder; see the module docstring."""

    def __init__(
        self,
        *,
        threshold: float,
        max_entries: int,
        backend: CacheBackend,
        embedder: TextEmbedder | None = None,
        clock: Callable[[], float] = time.time,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self.threshold = threshold
        self.backend = backend
        self.max_pending = max_pending
        self._embedder = embedder
        self._vectors = _Vectors(max_entries, clock)
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
            if stored is not None:
                key, value = stored
                await asyncio.wait_for(self.backend.set(key, value, ttl_s), BACKEND_TIMEOUT_S)
        except Exception as exc:  # the cache never fails a request, even one that is over
            self.counts["errors"] += 1
            log.warning("semantic cache: storing a vector failed: %s", exc)

    def _add_now(self, space: str, text: str, entry_key: str, expires: float) -> tuple[str, bytes] | None:
        if not self._ready:
            return None  # the embedder could not load (logged once): the semantic cache is off
        vector = self._embed(text)
        digest = text_digest(text)
        key = vector_key(entry_key, space, digest)
        self._vectors.insert(space, digest, vector, entry_key, expires)
        assert self._embedder is not None
        return key, encode_vector(entry_key, expires, self._embedder.model_name, digest, vector)

    async def clear(self, pattern: str) -> int:
        """Forget the vectors whose space (``{model group}:{scope}:{digest}``) matches the glob
        ``pattern``, here and in the backend (every namespace's); how many went."""
        here: int = await self._run(self._vectors.remove_matching, pattern)
        try:
            stored = await self.backend.delete_matching(f"*:v:{pattern}")
        except Exception as exc:
            self.counts["errors"] += 1
            log.warning("semantic cache: clearing %s in the backend failed: %s", pattern, exc)
            stored = 0
        return max(here, stored)

    async def start(self) -> None:
        """Rebuild the index from the backend, and load the embedder in the background.

        The rebuild (no embedding: the vectors are stored) runs on the worker before the model
        loads, so ``start`` returns as soon as the index is back, not when the model is."""
        try:
            found = [item async for item in self._stored()]
        except Exception as exc:  # a backend down at start: begin empty
            self.counts["errors"] += 1
            log.warning("semantic cache: rebuilding the index from %s failed: %s", self.backend.name, exc)
            found = []
        found.sort(key=lambda item: item.expires_at)  # oldest first, so the bound keeps the newest
        restored = self._run(self._restore, found[-self._vectors.max_entries :]) if found else None
        self._begin_loading()
        if restored is not None:
            await restored
        self.counts["rebuilt"] = len(found)

    async def _stored(self) -> AsyncIterator[StoredVector]:
        now = self._clock()
        model = self._embedder.model_name if self._embedder is not None else DEFAULT_MODEL
        async for key, value in self.backend.scan("*:v:*"):
            stored = decode_vector(key, value, model, now)
            if stored is not None:
                yield stored

    def _restore(self, found: list[StoredVector]) -> None:
        for item in found:
            self._vectors.insert(item.space, item.digest, item.vector, item.entry_key, item.expires_at)

    async def close(self) -> None:
        """Finish the additions under way (briefly: at most ``CLOSE_WAIT_S``), then stop the worker
        (a model still loading finishes in the background)."""
        self._closed = True
        if self._adds:
            _, late = await asyncio.wait(set(self._adds), timeout=CLOSE_WAIT_S)
            for task in late:
                task.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
