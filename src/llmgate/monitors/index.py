"""Nearest neighbours and clusters of embeddings, for the drift monitors (faiss and numpy).

The monitors work on unit-length float32 embeddings (``llmgate.quality.embedder``), so inner
product is cosine similarity and every distance here is the *cosine distance* ``1 - cos``
(0 for the same direction, 2 for opposite ones). Search is exact (``faiss.IndexFlatIP``): the
windows hold at most a few thousand rows, where exact search takes milliseconds and an
approximate index would only add error.

- ``fit_kmeans``: spherical k-means fitted with faiss, deterministic for a seed.
- ``assign``: the nearest centroid of each row, and its distance.
- ``nearest``: the distances from each query row to its ``k`` nearest rows of a base set.
- ``leave_one_out_nearest``: the same within one set, each row's own entry left out: the
  yardstick that "far from the reference" is measured against.
- ``knn_distances_within``: for many subsets of one set at once (the labellings of a
  permutation test), each row's mean distance to its ``k`` nearest *other* members of the
  subset, from one similarity matrix and each row's neighbours sorted once.

faiss and numpy are imported at module level: only the monitor worker imports this package.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
    IntArray = npt.NDArray[np.int64]
    BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "as_unit_rows",
    "assign",
    "fit_kmeans",
    "knn_distances_within",
    "leave_one_out_nearest",
    "nearest",
]

#: Permutations handled per block in ``knn_distances_within``, and the most cells (permutations
#: times rows times neighbours scanned) a block may hold: its memory bound.
_BLOCK = 64
_BLOCK_CELLS = 8_000_000


def as_unit_rows(x: Any) -> FloatArray:
    """``x`` as a C-contiguous float32 matrix, as faiss wants it (rows are not renormalised)."""
    array = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if array.ndim != 2:
        raise ValueError(f"expected a 2-d array of embeddings (rows, dims), got shape {array.shape}")
    return array


def _flat_index(base: FloatArray) -> Any:
    # faiss (the monitors extra, optional and heavy): only when an index is built
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    return index


def fit_kmeans(x: FloatArray, k: int, *, seed: int = 0, niter: int = 25) -> FloatArray:
    """Centroids ``(k, d)`` of spherical k-means over the rows of ``x``: unit length, deterministic.

    ``k`` is capped at the number of rows. faiss would warn below 39 rows per centroid; that
    warning is off, as callers choose ``k`` for small windows on purpose.
    """
    # faiss (the monitors extra, optional and heavy): only when an index is built
    import faiss

    x = as_unit_rows(x)
    k = max(1, min(int(k), x.shape[0]))
    kmeans = faiss.Kmeans(
        x.shape[1],
        k,
        niter=niter,
        seed=int(seed) % (2**31),
        spherical=True,
        min_points_per_centroid=1,
        max_points_per_centroid=256,
        verbose=False,
    )
    kmeans.train(x)
    centroids: FloatArray = np.ascontiguousarray(kmeans.centroids, dtype=np.float32)
    return centroids


def assign(x: FloatArray, centroids: FloatArray) -> tuple[IntArray, FloatArray]:
    """For each row of ``x``: the index of its nearest centroid, and the cosine distance to it."""
    distances, labels = nearest(x, centroids)
    return labels[:, 0], distances[:, 0]


def nearest(queries: FloatArray, base: FloatArray, k: int = 1) -> tuple[FloatArray, IntArray]:
    """Cosine distances ``(n, k)`` from each query row to its ``k`` nearest base rows, nearest
    first, and those rows' indices."""
    queries, base = as_unit_rows(queries), as_unit_rows(base)
    k = min(k, base.shape[0])
    if queries.shape[0] == 0:
        return np.zeros((0, k), dtype=np.float32), np.zeros((0, k), dtype=np.int64)
    similarities, indices = _flat_index(base).search(queries, k)
    distances: FloatArray = np.maximum(1.0 - similarities, 0.0).astype(np.float32)
    return distances, indices.astype(np.int64)


def leave_one_out_nearest(x: FloatArray, k: int = 1) -> FloatArray:
    """Cosine distances ``(n, k)`` from each row of ``x`` to its ``k`` nearest *other* rows.

    The search asks for ``k + 1`` neighbours and drops the row itself; when a duplicate ties
    with it and comes first, the last neighbour is dropped instead (the two are equivalent).
    """
    x = as_unit_rows(x)
    if x.shape[0] <= k:
        raise ValueError(f"{k} leave-one-out neighbours need more than {k} rows, got {x.shape[0]}")
    similarities, indices = _flat_index(x).search(x, k + 1)
    own = indices == np.arange(x.shape[0])[:, None]
    own[~own.any(axis=1), k] = True
    kept = similarities[~own].reshape(x.shape[0], k)
    distances: FloatArray = np.maximum(1.0 - kept, 0.0).astype(np.float32)
    return distances


def knn_distances_within(similarity: FloatArray, members: BoolArray, k: int) -> FloatArray:
    """Mean cosine distance ``(P, n)`` from each row to its ``k`` nearest other members.

    ``similarity`` is the ``(n, n)`` cosine similarity of a pooled set, ``members`` a ``(P, n)``
    boolean matrix of subsets of it (each with more than ``k`` members). For subset ``p`` and
    row ``i`` (member or not), the result is the mean of ``1 - cos`` over the ``k`` members
    ``j != i`` most similar to ``i``. Each row's neighbours are sorted once, to the depth where
    ``k`` members are all but certain to be found (from the smallest subset's share); the rare
    rows that do not find them there are computed exactly. When the subsets are small, so that
    depth would exceed their size, each subset's columns are read directly instead. Raises
    ``ValueError`` when a subset has ``k`` members or fewer.
    """
    n = similarity.shape[0]
    sim = np.array(similarity, dtype=np.float32, copy=True)
    np.fill_diagonal(sim, -np.inf)
    fewest = int(members.sum(axis=1).min())
    if fewest <= k:
        raise ValueError(f"every subset needs more than {k} members, one has {fewest}")
    share = fewest / n
    # Neighbours scanned until k members turn up: negative binomial, mean k/share; six sd more.
    depth = min(n - 1, math.ceil((k + 6.0 * math.sqrt(k * (1.0 - share))) / share) + 1)
    if depth >= fewest:  # small subsets: reading each subset's columns is cheaper than sorting
        return _knn_by_columns(sim, members, k)
    order = np.argpartition(-sim, depth, axis=1)[:, :depth]
    order = np.take_along_axis(order, np.argsort(-np.take_along_axis(sim, order, axis=1), axis=1), axis=1)
    sorted_sim = np.take_along_axis(sim, order, axis=1)
    result = np.empty(members.shape, dtype=np.float32)
    block_size = max(1, min(_BLOCK, _BLOCK_CELLS // (n * depth)))
    for start in range(0, members.shape[0], block_size):
        block = members[start : start + block_size]
        hit = block[:, order]  # (b, n, depth): is the j-th neighbour of row i a member?
        seen = np.cumsum(hit, axis=2, dtype=np.int16)
        totals = np.einsum("bnd,nd->bn", hit & (seen <= k), sorted_sim, dtype=np.float32)
        result[start : start + block_size] = 1.0 - totals / k
        for b, i in zip(*np.nonzero(seen[:, :, -1] < k), strict=True):
            result[start + b, i] = _mean_distance(sim[i, block[b]], k)
    return result


def _knn_by_columns(sim: FloatArray, members: BoolArray, k: int) -> FloatArray:
    result = np.empty(members.shape, dtype=np.float32)
    for p, member in enumerate(members):
        best = -np.partition(-sim[:, member], k - 1, axis=1)[:, :k]
        result[p] = 1.0 - best.mean(axis=1)
    return result


def _mean_distance(candidates: FloatArray, k: int) -> float:
    """1 - the mean of the ``k`` largest finite similarities (1.0 when there are none)."""
    finite = candidates[np.isfinite(candidates)]
    if finite.size == 0:
        return 1.0
    best = -np.partition(-finite, min(k, finite.size) - 1)[:k]
    return 1.0 - float(best.mean())
