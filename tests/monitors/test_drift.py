"""Embedding drift on real prompts: no alarm between halves of one set, alarms when traffic changes.

QA questions (HaluEval QA, 250) split at random are the "no change" case; general-assistant
queries (HaluEval general) are the new traffic, replacing all of the current window or a fifth
of it. Synthetic vectors cover the edge cases and the neighbour helpers.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("faiss")
pytest.importorskip("scipy")
pytest.importorskip("sklearn")

from llmgate.monitors.drift import (  # noqa: E402
    DriftThresholds,
    EmbeddingDrift,
    Statistic,
    embedding_drift,
)
from llmgate.monitors.index import knn_distances_within, leave_one_out_nearest, nearest  # noqa: E402

if TYPE_CHECKING:
    import numpy.typing as npt

    Vectors = npt.NDArray[Any]

NAMES = ("centroid_shift", "mmd", "psi", "domain_classifier", "ood_rate")
SPLITS = 20


def _unit(rng: Any, n: int, d: int = 32) -> Vectors:
    x = rng.standard_normal((n, d)).astype(np.float32)
    normalised: Vectors = x / np.linalg.norm(x, axis=1, keepdims=True)
    return normalised


def _halves(n: int, seed: int) -> tuple[Vectors, Vectors]:
    order = np.random.default_rng(seed).permutation(n)
    return order[: n // 2], order[n // 2 :]


def _effect(statistic: Statistic) -> float:
    """What the statistic's floor is compared with (the module doc of ``drift``)."""
    if statistic.name in ("centroid_shift", "psi"):
        return float(statistic.details["excess"])
    return statistic.value


@pytest.fixture(scope="module")
def null_splits(qa_vectors: Vectors) -> list[EmbeddingDrift]:
    results = []
    for seed in range(SPLITS):
        ref, cur = _halves(len(qa_vectors), seed)
        results.append(embedding_drift(qa_vectors[ref], qa_vectors[cur], seed=seed))
    return results


def test_random_halves_of_one_set_do_not_alarm(null_splits: list[EmbeddingDrift]) -> None:
    alarms = [i for i, result in enumerate(null_splits) if result.drifted]
    worst = {
        name: {
            "max_effect": max(_effect(r.statistic(name)) for r in null_splits),
            "min_p": min(r.statistic(name).p_value or 1.0 for r in null_splits),
            "threshold": null_splits[0].statistic(name).threshold,
        }
        for name in NAMES
    }
    print("worst over the null splits:", json.dumps(worst, indent=1))
    assert len(alarms) <= 1, f"false alarms in splits {alarms}: {worst}"
    for name in NAMES:
        flagged = sum(r.statistic(name).drifted for r in null_splits)
        assert flagged <= 1, (name, flagged, worst[name])
    # The margins: the floors sit above what chance produced here, and the tests are not close.
    assert worst["centroid_shift"]["max_effect"] < DriftThresholds().centroid_shift
    assert worst["psi"]["max_effect"] < DriftThresholds().psi
    assert worst["mmd"]["min_p"] > DriftThresholds().mmd_p_value
    assert worst["ood_rate"]["min_p"] > DriftThresholds().p_value


def test_a_complete_switch_of_traffic_flags_every_statistic(
    qa_vectors: Vectors, general_vectors: Vectors
) -> None:
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        ref, _ = _halves(len(qa_vectors), 100 + seed)
        new = rng.choice(len(general_vectors), size=len(ref), replace=False)
        result = embedding_drift(qa_vectors[ref], general_vectors[new], seed=seed)
        missed = [s.to_json() for s in result.statistics if not s.drifted]
        assert not missed, f"seed {seed}: {missed}"
        assert [s.name for s in result.statistics] == list(NAMES)


def test_the_topic_that_grew_is_the_new_traffic(qa_vectors: Vectors, general_vectors: Vectors) -> None:
    ref, _ = _halves(len(qa_vectors), 7)
    new = np.random.default_rng(7).choice(len(general_vectors), size=len(ref), replace=False)
    current = general_vectors[new]
    result = embedding_drift(qa_vectors[ref], current, seed=7)
    growth = [c.current_share - c.reference_share for c in result.clusters]
    assert growth == sorted(growth, reverse=True)
    top = result.clusters[0]
    assert top.current_share > top.reference_share + 0.2
    assert top.current_representative is not None and 0 <= top.current_representative < len(current)
    # Its current representative is a general query: the closest one to the cluster's centre.
    representative = current[top.current_representative]
    assert np.max(general_vectors[new] @ representative) > 0.999
    assert 0 <= top.representative < len(ref)
    assert math.isclose(sum(c.current_share for c in result.clusters), 1.0, abs_tol=1e-9)
    assert math.isclose(sum(c.reference_share for c in result.clusters), 1.0, abs_tol=1e-9)


def test_a_fifth_of_new_traffic_flags_the_ood_rate_and_mmd(
    qa_vectors: Vectors, general_vectors: Vectors
) -> None:
    """25 general queries among 125 QA questions: OOD always flags; MMD almost always.

    The OOD rate is the statistic for a new topic that is a small share of the traffic (its
    effect grows with the share, MMD's with the share squared): it must flag every trial. MMD
    at 125 rows per window flags about 9 trials in 10 at p < 0.01 (40 trials on each of two
    data sets, see benchmarks/RESULTS.md): here at least 4 of 5, and p < 0.05 in all.
    """
    mmd_flags, mmd_p = [], []
    for seed in range(5):
        rng = np.random.default_rng(200 + seed)
        ref, other = _halves(len(qa_vectors), 200 + seed)
        new = rng.choice(len(general_vectors), size=25, replace=False)
        current = np.vstack([qa_vectors[other][:100], general_vectors[new]])
        result = embedding_drift(qa_vectors[ref], current, seed=seed)
        assert result.statistic("ood_rate").drifted, (seed, result.statistic("ood_rate").to_json())
        mmd_flags.append(result.statistic("mmd").drifted)
        mmd_p.append(result.statistic("mmd").p_value)
        # The rows flagged out of distribution are mostly the new ones.
        flagged = np.flatnonzero(result.ood)
        assert np.mean(flagged >= 100) > 0.6, (seed, flagged.tolist())
    assert sum(mmd_flags) >= 4 and max(mmd_p) < 0.05, (mmd_flags, mmd_p)


def test_it_is_deterministic_for_a_seed(qa_vectors: Vectors) -> None:
    ref, cur = _halves(len(qa_vectors), 3)
    first = embedding_drift(qa_vectors[ref], qa_vectors[cur], seed=3)
    again = embedding_drift(qa_vectors[ref], qa_vectors[cur], seed=3)
    assert first == again


def test_identical_windows_do_not_drift(qa_vectors: Vectors) -> None:
    result = embedding_drift(qa_vectors, qa_vectors.copy(), seed=1)
    assert not result.drifted, [s.to_json() for s in result.statistics]
    assert result.statistic("centroid_shift").value == pytest.approx(0.0, abs=1e-6)
    assert result.statistic("ood_rate").value == 0.0
    assert not any(result.ood)


def test_to_json_is_plain_json(qa_vectors: Vectors, general_vectors: Vectors) -> None:
    result = embedding_drift(qa_vectors[:60], general_vectors[:40], seed=2)
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert data["reference_size"] == 60 and data["current_size"] == 40
    assert [s["name"] for s in data["statistics"]] == list(NAMES)
    assert len(data["ood"]) == 40 and len(data["clusters"]) == len(result.clusters)
    assert data["drifted"] is True


# --- synthetic: inputs, sizes, thresholds -------------------------------------------------------


def test_too_few_rows_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least 10"):
        embedding_drift(_unit(rng, 9), _unit(rng, 50))
    with pytest.raises(ValueError, match="current has 3 rows"):
        embedding_drift(_unit(rng, 50), _unit(rng, 3))


def test_mismatched_or_malformed_windows_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="dimension: 32 vs 16"):
        embedding_drift(_unit(rng, 20), _unit(rng, 20, d=16))
    with pytest.raises(ValueError, match="2-d"):
        embedding_drift(np.zeros(20, dtype=np.float32), _unit(rng, 20))
    broken = _unit(rng, 20)
    broken[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        embedding_drift(_unit(rng, 20), broken)


def test_large_windows_are_subsampled_but_flags_cover_every_row() -> None:
    rng = np.random.default_rng(4)
    reference, current = _unit(rng, 300), _unit(rng, 260)
    result = embedding_drift(reference, current, max_rows=100, permutations=99, seed=4)
    assert (result.reference_size, result.current_size) == (300, 260)
    assert len(result.ood) == 260
    assert result.statistic("mmd").details["permutations"] == 99
    assert result.statistic("psi").details["clusters"] == 5  # one per 20 rows of the 100 kept


def test_thresholds_from_a_partial_mapping() -> None:
    assert DriftThresholds.from_mapping(None) == DriftThresholds()
    custom = DriftThresholds.from_mapping({"psi": 0.2, "domain_auc": 0.6})
    assert (custom.psi, custom.domain_auc, custom.ood_rate) == (0.2, 0.6, DriftThresholds().ood_rate)
    with pytest.raises(ValueError, match="unknown drift threshold"):
        DriftThresholds.from_mapping({"psi_threshold": 0.2})
    with pytest.raises(ValueError, match="mmd_p_value"):
        DriftThresholds(mmd_p_value=1.5)


def test_thresholds_change_the_decision_not_the_values() -> None:
    rng = np.random.default_rng(5)
    reference = _unit(rng, 80)
    shifted = reference[:60] + 0.35 * _unit(rng, 1)
    current = shifted / np.linalg.norm(shifted, axis=1, keepdims=True)
    default = embedding_drift(reference, current, seed=5)
    assert default.statistic("centroid_shift").drifted
    lenient = embedding_drift(reference, current, DriftThresholds(centroid_shift=1.0), seed=5)
    assert not lenient.statistic("centroid_shift").drifted
    assert lenient.statistic("centroid_shift").value == default.statistic("centroid_shift").value
    assert lenient.statistic("centroid_shift").threshold == 1.0


# --- the neighbour helpers ----------------------------------------------------------------------


def test_leave_one_out_neighbours_skip_the_row_itself_and_keep_duplicates() -> None:
    rng = np.random.default_rng(6)
    x = _unit(rng, 30)
    x[7] = x[3]
    loo = leave_one_out_nearest(x, 3)
    similarity = x @ x.T
    np.fill_diagonal(similarity, -np.inf)
    expected = 1.0 - np.sort(similarity, axis=1)[:, ::-1][:, :3]
    np.testing.assert_allclose(loo, np.maximum(expected, 0.0), atol=1e-5)
    assert loo[3, 0] == pytest.approx(0.0, abs=1e-6) and loo[7, 0] == pytest.approx(0.0, abs=1e-6)
    distances, indices = nearest(x[:2], x, 2)
    assert indices[:, 0].tolist() == [0, 1] and distances.shape == (2, 2)


def _brute_force_check(similarity: Vectors, members: Vectors, got: Vectors) -> None:
    n = similarity.shape[0]
    for p, member in enumerate(members):
        for i in range(n):
            others = [j for j in np.flatnonzero(member) if j != i]
            best = np.sort(similarity[i, others])[::-1][:3]
            assert got[p, i] == pytest.approx(1.0 - best.mean(), abs=1e-5)


@pytest.mark.parametrize("members_per_subset", [30, 15, 4])  # sorted neighbours; columns; columns
def test_knn_within_subsets_matches_brute_force(members_per_subset: int) -> None:
    rng = np.random.default_rng(members_per_subset)
    x = _unit(rng, 60, d=8)
    similarity = x @ x.T
    members = np.zeros((12, 60), dtype=bool)
    for row in members:
        row[rng.choice(60, size=members_per_subset, replace=False)] = True
    _brute_force_check(similarity, members, knn_distances_within(similarity, members, 3))


def test_knn_within_subsets_when_the_nearest_rows_are_all_outsiders() -> None:
    rng = np.random.default_rng(8)
    # Two tight groups: for the first, every near neighbour is outside the subset (the second).
    centres = _unit(rng, 2, d=8)
    x = np.repeat(centres, 40, axis=0) + 0.05 * rng.standard_normal((80, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    similarity = x @ x.T
    members = np.zeros((3, 80), dtype=bool)
    members[:, 40:] = True
    members[1, 40] = False
    _brute_force_check(similarity, members, knn_distances_within(similarity, members, 3))
    too_few = np.zeros((1, 80), dtype=bool)
    too_few[0, :3] = True
    with pytest.raises(ValueError, match="more than 3 members"):
        knn_distances_within(similarity, too_few, 3)
