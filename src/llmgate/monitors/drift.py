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
every permutation. The statistics, and the constants named below, are in ``drift_statistics``;
the thresholds and result types in ``drift_results``; this module checks the windows and runs them.

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
from typing import TYPE_CHECKING, Any

import numpy as np

from llmgate.monitors import drift_statistics as stats
from llmgate.monitors.drift_results import ClusterShift, DriftThresholds, EmbeddingDrift, Statistic
from llmgate.monitors.index import as_unit_rows

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
    IntArray = npt.NDArray[np.int64]

__all__ = ["ClusterShift", "DriftThresholds", "EmbeddingDrift", "Statistic", "embedding_drift"]

MIN_ROWS = 10
ROWS_PER_CLUSTER = 20
MAX_CLUSTERS = 20


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
    masks = stats.permutation_masks(len(pooled), len(ref), permutations, rng)
    k = n_clusters if n_clusters is not None else _default_clusters(len(ref), len(cur))
    psi, clusters = stats.psi(ref_all, cur_all, pooled, max(1, k), masks, limits, seed)
    ood, flags = stats.ood_rate(ref, cur_all, pooled, masks, limits)
    statistics = (
        stats.centroid_shift(pooled, masks, limits),
        stats.mmd(pooled, masks, limits, rng),
        psi,
        stats.domain_classifier(pooled, masks, limits, seed),
        ood,
    )
    return EmbeddingDrift(statistics, clusters, flags, len(ref_all), len(cur_all))


# --- the inputs ------------------------------------------------------------------------------


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


def _default_clusters(n_ref: int, n_cur: int) -> int:
    return int(min(MAX_CLUSTERS, max(2, min(n_ref, n_cur) // ROWS_PER_CLUSTER)))
