"""The semantic index's vectors: one faiss index per space, bounded, expiring, compacted.

Used by the semantic index's worker thread only (``semantic_index.py``), never concurrently.
A *space* holds the requests whose everything-but-the-last-user-turn was equal; each is a faiss
inner-product index (``IndexFlatIP``: exact search) over unit vectors. At most ``max_entries``
vectors over all spaces (past it the oldest go); a vector of the same text again in a space
replaces the older; an entry past its expiry is never returned and is swept out within
``SWEEP_S``. Rows that went are skipped by searches and compacted away once a space holds as many
dead rows as live ones.

faiss and numpy (the ``monitors`` extra) are imported inside the methods that need them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["SWEEP_S", "Spaces"]

#: how often expired entries are swept out of the index (seconds)
SWEEP_S = 30.0


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


class Spaces:
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

    def holds(self, space: str, digest: str, entry_key: str, expires: float) -> bool:
        """Is this text of ``space`` held already, for ``entry_key`` and at least until ``expires``?"""
        target = self.spaces.get(space)
        entry_id = target.by_digest.get(digest) if target is not None else None
        entry = self.entries.get(entry_id) if entry_id is not None else None
        return entry is not None and entry.entry_key == entry_key and entry.expires_at >= expires

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
