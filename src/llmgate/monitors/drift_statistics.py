"""The five embedding-drift statistics, each a permutation test over one shared set of labellings.

``centroid_shift``, ``mmd``, ``psi``, ``domain_classifier`` and ``ood_rate`` each take the pooled
rows of both windows and the permutation masks (row 0 the observed labelling, from
``permutation_masks``) and return a ``Statistic``; ``psi`` also the cluster shifts, ``ood_rate``
the per-row flags. What each computes, its threshold rule and how its constants were chosen are
in the module doc of ``llmgate.monitors.drift``, which validates the windows and calls these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from llmgate.monitors.drift_results import ClusterShift, DriftThresholds, Statistic
from llmgate.monitors.index import assign, fit_kmeans, knn_distances_within, leave_one_out_nearest, nearest

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
    Float64Array = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]

__all__ = ["centroid_shift", "domain_classifier", "mmd", "ood_rate", "permutation_masks", "psi"]

#: Percentile of the reference's own neighbour distances beyond which a row is OOD.
OOD_QUANTILE = 0.95
OOD_NEIGHBOURS = 5
#: Added to every cluster's count before shares are taken (PSI's epsilon).
PSI_PSEUDO_COUNT = 0.5
CV_FOLDS = 5
#: L2 penalty of the domain classifier (a ridge classifier on the raw embeddings).
DOMAIN_RIDGE = 10.0
MMD_COMPONENTS = 12
MMD_BANDWIDTH_SCALE = 1.0 / 8.0
#: Pairs of rows the median heuristic looks at, at most.
MEDIAN_PAIRS = 200_000


# --- permutations ---------------------------------------------------------------------------


def permutation_masks(n: int, m: int, permutations: int, rng: np.random.Generator) -> FloatArray:
    """Row 0 marks the observed reference rows (the first ``m``); the others random ``m`` of ``n``."""
    masks = np.zeros((permutations + 1, n), dtype=np.float32)
    masks[0, :m] = 1.0
    chosen = np.argsort(rng.random((permutations, n)), axis=1)[:, :m]
    np.put_along_axis(masks[1:], chosen, np.float32(1.0), axis=1)
    return masks


def _p_value(observed_then_null: Float64Array) -> float:
    """Share of all labellings (the observed one included) at least as extreme as the observed."""
    observed = float(observed_then_null[0])
    return float(np.mean(observed_then_null >= observed - 1e-9 * max(1.0, abs(observed))))


def _null_summary(values: Float64Array, limits: DriftThresholds) -> dict[str, Any]:
    null = values[1:]
    return {
        "null_mean": float(null.mean()),
        "null_95": float(np.quantile(null, 0.95)),
        "excess": float(values[0] - null.mean()),
        "significance": limits.p_value,
    }


# --- the statistics ---------------------------------------------------------------------------


def centroid_shift(pooled: FloatArray, masks: FloatArray, limits: DriftThresholds) -> Statistic:
    x = pooled.astype(np.float64)
    ref_sums = masks.astype(np.float64) @ x
    cur_sums = x.sum(axis=0)[None, :] - ref_sums
    norms = np.linalg.norm(ref_sums, axis=1) * np.linalg.norm(cur_sums, axis=1)
    shifts = np.maximum(1.0 - np.einsum("pd,pd->p", ref_sums, cur_sums) / np.maximum(norms, 1e-12), 0.0)
    details = _null_summary(shifts, limits)
    p = _p_value(shifts)
    drifted = p < limits.p_value and details["excess"] >= limits.centroid_shift
    return Statistic("centroid_shift", float(shifts[0]), limits.centroid_shift, drifted, p, details)


def mmd(
    pooled: FloatArray, masks: FloatArray, limits: DriftThresholds, rng: np.random.Generator
) -> Statistic:
    y = _principal_components(pooled, MMD_COMPONENTS)
    components = y.shape[1]
    norms = (y * y).sum(axis=1)
    squared = np.maximum(norms[:, None] + norms[None, :] - 2.0 * (y @ y.T), 0.0)
    median = _median_off_diagonal(squared, rng)
    bandwidth = MMD_BANDWIDTH_SCALE * median
    kernel = np.exp(squared * np.float32(-0.5 / bandwidth)).astype(np.float32)
    np.fill_diagonal(kernel, 1.0)

    n, m = float(len(pooled)), float(masks[0].sum())
    c = n - m
    row_sums = kernel.sum(axis=1, dtype=np.float64)
    within_ref = np.einsum("pn,pn->p", masks @ kernel, masks, dtype=np.float64)
    cross = masks.astype(np.float64) @ row_sums - within_ref
    within_cur = float(row_sums.sum()) - 2.0 * cross - within_ref
    mmd2 = (within_ref - m) / (m * (m - 1)) + (within_cur - c) / (c * (c - 1)) - 2.0 * cross / (m * c)
    p = _p_value(mmd2)
    details = {
        "null_mean": float(mmd2[1:].mean()),
        "null_95": float(np.quantile(mmd2[1:], 0.95)),
        "components": components,
        "bandwidth": bandwidth,
        "median_squared_distance": median,
        "permutations": len(masks) - 1,
    }
    return Statistic("mmd", float(mmd2[0]), limits.mmd_p_value, p < limits.mmd_p_value, p, details)


def _principal_components(x: FloatArray, r: int) -> FloatArray:
    """The rows of ``x`` projected on its top ``r`` principal components (from the smaller of the
    two scatter matrices, and only the eigenpairs needed)."""
    from scipy.linalg import eigh  # heavy and optional (the monitors extra): loaded on first use

    centred = (x - x.mean(axis=0)).astype(np.float64)
    n, d = centred.shape
    r = max(1, min(r, n - 1, d))
    if d <= n:
        _, vectors = eigh(centred.T @ centred, subset_by_index=[d - r, d - 1])
        projected = centred @ vectors
    else:  # the Gram matrix's eigenvectors, scaled, are the same projection
        values, vectors = eigh(centred @ centred.T, subset_by_index=[n - r, n - 1])
        projected = vectors * np.sqrt(np.maximum(values, 0.0))
    result: FloatArray = projected.astype(np.float32)
    return result


def _median_off_diagonal(squared: FloatArray, rng: np.random.Generator) -> float:
    n = squared.shape[0]
    if n * (n - 1) // 2 <= MEDIAN_PAIRS:
        rows, cols = np.triu_indices(n, k=1)
    else:
        rows = rng.integers(0, n, size=MEDIAN_PAIRS)
        cols = (rows + rng.integers(1, n, size=MEDIAN_PAIRS)) % n
    median = float(np.median(squared[rows, cols]))
    return median if median > 1e-12 else 1.0


def psi(
    ref_all: FloatArray,
    cur_all: FloatArray,
    pooled: FloatArray,
    k: int,
    masks: FloatArray,
    limits: DriftThresholds,
    seed: int,
) -> tuple[Statistic, tuple[ClusterShift, ...]]:
    centroids = fit_kmeans(pooled, k, seed=seed)
    k = len(centroids)
    labels, _ = assign(pooled, centroids)
    one_hot = np.zeros((len(labels), k), dtype=np.float32)
    one_hot[np.arange(len(labels)), labels] = 1.0
    ref_counts = (masks @ one_hot).astype(np.float64)
    cur_counts = one_hot.sum(axis=0, dtype=np.float64)[None, :] - ref_counts
    ref_p = (ref_counts + PSI_PSEUDO_COUNT) / (ref_counts.sum(axis=1, keepdims=True) + PSI_PSEUDO_COUNT * k)
    cur_p = (cur_counts + PSI_PSEUDO_COUNT) / (cur_counts.sum(axis=1, keepdims=True) + PSI_PSEUDO_COUNT * k)
    values: Float64Array = ((cur_p - ref_p) * np.log(cur_p / ref_p)).sum(axis=1)
    p = _p_value(values)

    # Shares and representatives over all rows of both windows (not only the subsample).
    ref_labels, ref_dist = assign(ref_all, centroids)
    cur_labels, cur_dist = assign(cur_all, centroids)
    ref_share = np.bincount(ref_labels, minlength=k) / len(ref_labels)
    cur_share = np.bincount(cur_labels, minlength=k) / len(cur_labels)
    nearest_ref = nearest(centroids, ref_all)[1][:, 0]  # for clusters without reference rows
    clusters = []
    for i in range(k):
        own = _closest(ref_labels, ref_dist, i)
        representative = own if own is not None else int(nearest_ref[i])
        current = _closest(cur_labels, cur_dist, i)
        clusters.append(ClusterShift(i, float(ref_share[i]), float(cur_share[i]), representative, current))
    clusters.sort(key=lambda s: (-(s.current_share - s.reference_share), s.cluster))
    details = _null_summary(values, limits) | {
        "clusters": k,
        "reference_shares": [float(s) for s in ref_share],
        "current_shares": [float(s) for s in cur_share],
    }
    drifted = p < limits.p_value and details["excess"] >= limits.psi
    return Statistic("psi", float(values[0]), limits.psi, drifted, p, details), tuple(clusters)


def _closest(labels: IntArray, distances: FloatArray, cluster: int) -> int | None:
    members = np.flatnonzero(labels == cluster)
    return int(members[np.argmin(distances[members])]) if members.size else None


def domain_classifier(pooled: FloatArray, masks: FloatArray, limits: DriftThresholds, seed: int) -> Statistic:
    # heavy and optional (the monitors extra): loaded on first use
    from scipy.stats import rankdata
    from sklearn.model_selection import KFold

    labels = 1.0 - masks.astype(np.float64)  # 1 for the current window, for every labelling
    x = pooled.astype(np.float64)
    folds = KFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed % 2**32)
    fold_aucs = []
    for train, test in folds.split(x):
        # Ridge scores are linear in the labels: one solve scores every labelling at once, in
        # the primal (d x d) or the dual (n x n) form, whichever is smaller.
        mean = x[train].mean(axis=0)
        centred, tested = x[train] - mean, x[test] - mean
        targets = labels[:, train].T  # (train rows, labellings)
        if x.shape[1] <= len(train):
            gram = centred.T @ centred + DOMAIN_RIDGE * np.eye(x.shape[1])
            scores = tested @ np.linalg.solve(gram, centred.T @ targets)
        else:
            gram = centred @ centred.T + DOMAIN_RIDGE * np.eye(len(train))
            scores = (tested @ centred.T) @ np.linalg.solve(gram, targets)
        positive = labels[:, test].T > 0.5
        ranks = rankdata(scores, axis=0)
        n_pos = positive.sum(axis=0)
        n_neg = len(test) - n_pos
        both = (n_pos > 0) & (n_neg > 0)
        rank_sums = np.where(positive, ranks, 0.0).sum(axis=0)
        auc = np.full(len(labels), 0.5)
        auc[both] = (rank_sums[both] - n_pos[both] * (n_pos[both] + 1) / 2.0) / (n_pos[both] * n_neg[both])
        fold_aucs.append(auc)
    aucs = np.mean(fold_aucs, axis=0)
    p = _p_value(aucs)
    value = float(aucs[0])
    drifted = value > limits.domain_auc and p < limits.p_value
    details = {
        "fold_aucs": [float(fold[0]) for fold in fold_aucs],
        "null_mean": float(aucs[1:].mean()),
        "null_95": float(np.quantile(aucs[1:], 0.95)),
        "significance": limits.p_value,
    }
    return Statistic("domain_classifier", value, limits.domain_auc, drifted, p, details)


def ood_rate(
    ref: FloatArray, cur_all: FloatArray, pooled: FloatArray, masks: FloatArray, limits: DriftThresholds
) -> tuple[Statistic, tuple[bool, ...]]:
    k = min(OOD_NEIGHBOURS, len(ref) - 1)
    # The flags: every current row against the (subsampled) reference, with faiss.
    cutoff = float(np.quantile(leave_one_out_nearest(ref, k).mean(axis=1), OOD_QUANTILE))
    distances = nearest(cur_all, ref, k)[0].mean(axis=1)
    flags = distances > cutoff
    rate = float(flags.mean())
    # The test: the same rate for every labelling of the pooled rows.
    members = masks.astype(bool)
    within = knn_distances_within(pooled @ pooled.T, members, k)
    rates = np.empty(len(members), dtype=np.float64)
    for i, (row, member) in enumerate(zip(within, members, strict=True)):
        rates[i] = np.mean(row[~member] > np.quantile(row[member], OOD_QUANTILE))
    p = _p_value(rates)
    details = _null_summary(rates, limits) | {
        "neighbours": k,
        "cutoff_distance": cutoff,
        "expected_rate": 1.0 - OOD_QUANTILE,
        "out_of_distribution": int(flags.sum()),
        "first_out_of_distribution": int(np.argmax(flags)) if flags.any() else None,
    }
    drifted = p < limits.p_value and rate > limits.ood_rate
    return Statistic("ood_rate", rate, limits.ood_rate, drifted, p, details), tuple(bool(f) for f in flags)
