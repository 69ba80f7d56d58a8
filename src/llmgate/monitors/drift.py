"""Embedding drift: has the distribution of prompts moved away from a reference window?

``embedding_drift(reference, current)`` compares two windows of unit-length embeddings (rows of
``llmgate.quality.embedder``) with five statistics and says which drifted. A statistic is
*drifted* only when the change is **significant** (a test of "both windows come from one
distribution", so small windows, whose raw values are noisy, do not false-alarm) and, where an
effect size exists, **material** (it reaches the threshold, so large windows do not alarm on
negligible changes). Each ``Statistic`` reports the raw value, the threshold and the p-value.

All five tests are permutation tests sharing one set of permutations (the window labels
shuffled over the pooled rows), exact under "no change" whatever the data look like: what is
fitted to the data (k-means, PCA, bandwidth, folds) is fitted on the pooled rows, the same for
every permutation.

1. ``centroid_shift``: cosine distance between the window means. Drifted when the
   permutation ``p < p_value`` and the shift *beyond chance* (value minus its permutation-null
   mean: two samples of 125 rows differ by about 0.08 by chance alone) is ``>= centroid_shift``.
2. ``mmd``: unbiased MMD² with an RBF kernel, permutation p-value; drifted when
   ``p < mmd_p_value`` (MMD² has no scale to state a floor in). Computed on the top
   ``MMD_COMPONENTS`` principal components of the pooled rows (dimension reduction before MMD
   detects shifts better, as in Rabanser et al., "Failing Loudly", 2019) with the bandwidth
   ``MMD_BANDWIDTH_SCALE`` times the median heuristic's (``exp(-d² / (2 s m))``, ``m`` the
   median squared pooled distance): at the plain median the kernel is almost linear over the
   data and MMD only repeats the centroid test; a local kernel compares densities, and flagged
   a new topic making up a fifth of 125 rows in about 9 trials of 10 (against 5 in 10 at the
   plain median). Both constants were chosen over 40 such trials on each of two data sets (QA
   questions, assistant queries). A small new topic remains the OOD rate's job: its effect
   grows with the topic's share, MMD's with the share squared.
3. ``psi``: population stability index over spherical k-means clusters (faiss), shares
   smoothed by half a row per cluster. ``k`` is ``n_clusters`` or one per 20 rows of the
   smaller window, from 2 to 20. Clusters are fitted on the *pooled* windows, not the reference
   alone: reference-only clusters cannot see a topic the reference lacks (a complete switch to
   other traffic spread over the old clusters and went unflagged in 2 of 5 trials), and the
   test is exact only for a partition symmetric in the two windows. Under no change PSI is
   about ``(k-1)(1/n_ref + 1/n_cur)``, so drifted means ``p < p_value`` and PSI minus its
   permutation-null mean ``>= psi``.
4. ``domain_classifier``: cross-validated ROC AUC (5 folds, mean over folds) of a linear
   classifier telling reference rows from current ones: Evidently's default method and its
   threshold, 0.55. The classifier is ridge regression on the raw embeddings (penalty
   ``DOMAIN_RIDGE``; the least-squares cousin of logistic regression, near Fisher's LDA):
   its scores are linear in the labels, so one solve per fold scores every permutation, and
   the p-value is a permutation test like the others. On small windows an AUC of 0.58 comes
   by chance, and the textbook Mann-Whitney variance understates the spread of a
   cross-validated AUC by a third (a z-test false-alarmed in 3 of 20 unchanged windows).
   Drifted when ``AUC > domain_auc`` and ``p < p_value``.
5. ``ood_rate``: share of current rows out of the reference's distribution: their mean cosine
   distance to the ``OOD_NEIGHBOURS`` nearest reference rows (faiss) exceeds the 95th
   percentile of the same leave-one-out distance among reference rows. About 5% under no
   change, but current rows share one reference, so their flags are correlated (a topic that
   happened to fall in one window flags together; a binomial test false-alarmed in 2 of 20
   splits): the p-value is a permutation test of the rate. Drifted when ``p < p_value`` and
   the rate is ``> ood_rate``. Five neighbours, not one: the single nearest is noisy in 384
   dimensions. ``EmbeddingDrift.ood`` flags every current row, to date the first.

Defaults: ``p_value = mmd_p_value = 0.01``, so that on an unchanged stream the five tests
together fire in at most 5% of the windows (a union bound; less in practice, as the tests are
correlated and the floors must be met too). The floors were set on random halves of the 250
HaluEval QA questions (20 splits, none may alarm) against QA questions replaced by assistant
queries, all of them (every statistic must flag) or a fifth (OOD must): each floor sits above
the largest effect chance produced at 125 rows and far below a full switch, and each reads as
a size of change worth an alert (a mean moved by 0.02 in cosine distance, PSI 0.1, the usual
"moderate shift", AUC 0.55, twice the 5% of rows expected out of distribution). Figures, also on
windows of the assistant queries the defaults were not set on: ``benchmarks/RESULTS.md``,
section "Drift statistics".

Windows above ``max_rows`` rows are subsampled (deterministically for ``seed``) for every
test; the OOD flags and cluster shares use all rows. The smallest permutation p-value is
``1/(permutations + 1)``. numpy's BLAS runs on one thread during the call (see
``_one_blas_thread``): 125 against 125 rows of 384 dimensions take about 0.1 s, 1000 against
1000 about 0.5 s on two cores.
"""

from __future__ import annotations

import contextlib
import importlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from llmgate.monitors.index import (
    as_unit_rows,
    assign,
    fit_kmeans,
    knn_distances_within,
    leave_one_out_nearest,
    nearest,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
    Float64Array = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]

__all__ = ["ClusterShift", "DriftThresholds", "EmbeddingDrift", "Statistic", "embedding_drift"]

MIN_ROWS = 10
#: Percentile of the reference's own neighbour distances beyond which a row is OOD.
OOD_QUANTILE = 0.95
OOD_NEIGHBOURS = 5
ROWS_PER_CLUSTER = 20
MAX_CLUSTERS = 20
#: Added to every cluster's count before shares are taken (PSI's epsilon).
PSI_PSEUDO_COUNT = 0.5
CV_FOLDS = 5
#: L2 penalty of the domain classifier (a ridge classifier on the raw embeddings).
DOMAIN_RIDGE = 10.0
MMD_COMPONENTS = 12
MMD_BANDWIDTH_SCALE = 1.0 / 8.0
#: Pairs of rows the median heuristic looks at, at most.
MEDIAN_PAIRS = 200_000


@dataclass(frozen=True)
class DriftThresholds:
    """When each embedding statistic counts as drifted; the module doc gives each rule."""

    #: Cosine distance between the window means beyond the permutation null's mean.
    centroid_shift: float = 0.02
    #: Significance of the MMD permutation test.
    mmd_p_value: float = 0.01
    #: PSI over the clusters beyond the permutation null's mean.
    psi: float = 0.1
    #: Cross-validated ROC AUC of the reference-vs-current classifier.
    domain_auc: float = 0.55
    #: Share of current rows out of the reference's distribution (about 5% with no change).
    ood_rate: float = 0.1
    #: Significance of the centroid, PSI, domain-classifier and OOD tests.
    p_value: float = 0.01

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"drift threshold {item.name} must be a finite number, got {value!r}")
            if not 0 <= value <= (math.inf if item.name in ("centroid_shift", "psi") else 1):
                raise ValueError(f"drift threshold {item.name} is out of range: {value}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> DriftThresholds:
        """Thresholds from a (possibly partial) mapping; missing keys keep their defaults."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(mapping or {}) - known)
        if unknown:
            raise ValueError(f"unknown drift threshold(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(mapping or {}))


@dataclass(frozen=True)
class Statistic:
    """One drift statistic: its raw value, the configured threshold and the decision."""

    name: str
    value: float
    threshold: float
    drifted: bool
    p_value: float | None = None
    #: JSON-serialisable extras (floats, ints, strings, lists): the null, the effect, shares.
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "p_value": self.p_value,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class ClusterShift:
    """How the share of one cluster changed between the windows."""

    cluster: int
    reference_share: float
    current_share: float
    #: Index into ``reference`` of the row closest to the centroid (of the cluster's own rows
    #: if it has any), so that a report can quote a prompt.
    representative: int
    #: Index into ``current`` of the cluster's current row closest to the centroid, or None.
    current_representative: int | None


@dataclass(frozen=True)
class EmbeddingDrift:
    """The five statistics, the clusters sorted by growth, and the per-row OOD flags."""

    statistics: tuple[Statistic, ...]
    #: Sorted by ``current_share - reference_share``, descending: the first is the topic that grew.
    clusters: tuple[ClusterShift, ...]
    #: Per current row: is it out of the reference's distribution?
    ood: tuple[bool, ...]
    reference_size: int
    current_size: int

    @property
    def drifted(self) -> bool:
        return any(statistic.drifted for statistic in self.statistics)

    def statistic(self, name: str) -> Statistic:
        """The statistic called ``name`` (``KeyError`` if there is none)."""
        for statistic in self.statistics:
            if statistic.name == name:
                return statistic
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "reference_size": self.reference_size,
            "current_size": self.current_size,
            "statistics": [statistic.to_json() for statistic in self.statistics],
            "clusters": [asdict(cluster) for cluster in self.clusters],
            "ood": list(self.ood),
        }


def embedding_drift(
    reference: Any,
    current: Any,
    thresholds: DriftThresholds | None = None,
    *,
    seed: int = 0,
    max_rows: int = 2000,
    permutations: int = 500,
    n_clusters: int | None = None,
) -> EmbeddingDrift:
    """Compare two windows of embeddings (float32 ``(n, d)``, unit rows); see the module doc.

    Raises ``ValueError`` when a window has fewer than ``MIN_ROWS`` rows, is not 2-d or not
    finite, or the dimensions differ. Deterministic for a given ``seed``.
    """
    limits = thresholds or DriftThresholds()
    ref_all, cur_all = _window(reference, "reference"), _window(current, "current")
    if ref_all.shape[1] != cur_all.shape[1]:
        raise ValueError(
            f"reference and current embeddings differ in dimension: {ref_all.shape[1]} vs {cur_all.shape[1]}"
        )
    if max_rows < MIN_ROWS or permutations < 1:
        raise ValueError(f"max_rows must be >= {MIN_ROWS} and permutations >= 1")

    with _one_blas_thread():
        return _embedding_drift(ref_all, cur_all, limits, seed, max_rows, permutations, n_clusters)


def _embedding_drift(
    ref_all: FloatArray,
    cur_all: FloatArray,
    limits: DriftThresholds,
    seed: int,
    max_rows: int,
    permutations: int,
    n_clusters: int | None,
) -> EmbeddingDrift:
    rng = np.random.default_rng(seed)
    ref_rows, cur_rows = _subsample(len(ref_all), max_rows, rng), _subsample(len(cur_all), max_rows, rng)
    ref, cur = ref_all[ref_rows], cur_all[cur_rows]
    pooled = np.vstack([ref, cur])
    masks = _permutation_masks(len(pooled), len(ref), permutations, rng)
    k = n_clusters if n_clusters is not None else _default_clusters(len(ref), len(cur))
    psi, clusters = _psi(ref_all, cur_all, pooled, max(1, k), masks, limits, seed)
    ood, flags = _ood_rate(ref, cur_all, pooled, masks, limits)
    statistics = (
        _centroid_shift(pooled, masks, limits),
        _mmd(pooled, masks, limits, rng),
        psi,
        _domain_classifier(pooled, masks, limits, seed),
        ood,
    )
    return EmbeddingDrift(statistics, clusters, flags, len(ref_all), len(cur_all))


# --- inputs and permutations ------------------------------------------------------------------


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Hold numpy's BLAS to one thread for the call (threadpoolctl, from scikit-learn), if present.

    The matrices are small (at most 4000 rows): OpenBLAS's threads gain little on them and, on
    a busy two-core machine, made a call 5 to 20 times slower (a 384² ``eigh`` took 2.3 s).
    """
    try:
        threadpoolctl: Any = importlib.import_module("threadpoolctl")
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        return contextlib.nullcontext()
    context: contextlib.AbstractContextManager[Any] = threadpoolctl.threadpool_limits(1, user_api="blas")
    return context


def _window(x: Any, name: str) -> FloatArray:
    try:
        array = as_unit_rows(x)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    if array.shape[0] < MIN_ROWS:
        raise ValueError(f"{name} has {array.shape[0]} rows; drift statistics need at least {MIN_ROWS}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    unit: FloatArray = np.ascontiguousarray(array / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)
    return unit


def _subsample(n: int, limit: int, rng: np.random.Generator) -> IntArray:
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=limit, replace=False)).astype(np.int64)


def _permutation_masks(n: int, m: int, permutations: int, rng: np.random.Generator) -> FloatArray:
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


def _default_clusters(n_ref: int, n_cur: int) -> int:
    return int(min(MAX_CLUSTERS, max(2, min(n_ref, n_cur) // ROWS_PER_CLUSTER)))


# --- the statistics ---------------------------------------------------------------------------


def _centroid_shift(pooled: FloatArray, masks: FloatArray, limits: DriftThresholds) -> Statistic:
    x = pooled.astype(np.float64)
    ref_sums = masks.astype(np.float64) @ x
    cur_sums = x.sum(axis=0)[None, :] - ref_sums
    norms = np.linalg.norm(ref_sums, axis=1) * np.linalg.norm(cur_sums, axis=1)
    shifts = np.maximum(1.0 - np.einsum("pd,pd->p", ref_sums, cur_sums) / np.maximum(norms, 1e-12), 0.0)
    details = _null_summary(shifts, limits)
    p = _p_value(shifts)
    drifted = p < limits.p_value and details["excess"] >= limits.centroid_shift
    return Statistic("centroid_shift", float(shifts[0]), limits.centroid_shift, drifted, p, details)


def _mmd(
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
    from scipy.linalg import eigh

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


def _psi(
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


def _domain_classifier(
    pooled: FloatArray, masks: FloatArray, limits: DriftThresholds, seed: int
) -> Statistic:
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


def _ood_rate(
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
