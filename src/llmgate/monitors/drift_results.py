"""What an embedding-drift comparison is asked and what it answers.

``DriftThresholds`` say when each statistic counts as drifted; ``Statistic``, ``ClusterShift`` and
``EmbeddingDrift`` carry the result of ``llmgate.monitors.drift.embedding_drift`` (whose module doc
gives each rule and why). Plain frozen dataclasses with their JSON form, kept apart from the
statistics that fill them (``drift_statistics``): no numpy here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["ClusterShift", "DriftThresholds", "EmbeddingDrift", "Statistic"]


@dataclass(frozen=True)
class DriftThresholds:
    """When each embedding statistic counts as drifted; ``drift``'s module doc gives each rule."""

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
