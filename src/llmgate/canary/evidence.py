"""A canary's evidence: running aggregates per arm, updated incrementally from the store's rows.

The controller reads the canary's new requests (``store/canaries.py`` ``evidence_rows``) and new
monitor scores (``quality_rows``) every second and adds them here; the gates read these aggregates,
never the rows, so one evaluation costs the same after a million requests as after a hundred
(bar the latency arrays, kept whole for the exact 95th percentile).

Per arm (``ArmEvidence``):

- ``requests`` and ``errors``: a call is an error when its status is ``error`` or it took more than
  one attempt (a retry, or the candidate failing over to stable: the client never noticed, the
  candidate still failed).
- Over the calls that succeeded (``answers``): ``refusals`` (``quality/text.py`` ``is_refusal`` on the
  first 2,000 characters, or finish reason ``content_filter``), ``bad_finishes`` (finish reason other
  than stop / tool_calls / end_turn / none), running mean and variance (Welford, merged per batch
  with Chan's formula) of ``cost`` (calls with a price) and ``response_chars``, and the arrays of
  ``latency_ms`` and ``ttft_ms`` (streamed calls).
- From the monitors' samples: running mean and variance of ``groundedness``, ``context_relevance``
  and ``answer_relevance`` (each where the monitor scored it), and the last ``MAX_VECTORS`` answer
  embeddings for the drift gate.

``CallBatch`` and ``QualityBatch`` are the same evidence as numpy columns: ``add_rows`` and
``add_quality`` build them from dict rows; simulations and benchmarks feed them directly. A field
that is ``None`` in a row is left out of the aggregates it would feed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from llmgate.quality.text import is_refusal

__all__ = [
    "ARMS",
    "GOOD_FINISH_REASONS",
    "MAX_VECTORS",
    "ArmEvidence",
    "CallBatch",
    "CanaryEvidence",
    "QualityBatch",
    "RunningMoments",
]

ARMS = ("stable", "candidate")
#: Finish reasons of a complete answer (``None``: not reported); any other counts for ``finish_reasons``.
GOOD_FINISH_REASONS = frozenset({"stop", "tool_calls", "end_turn"})
#: Answer embeddings kept per arm for the drift gate (the most recent ones).
MAX_VECTORS = 2000
QUALITY_SCORES = ("groundedness", "context_relevance", "answer_relevance")

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


class RunningMoments:
    """Count, mean and sum of squared deviations of a stream of numbers (NaN ignored)."""

    __slots__ = ("count", "m2", "mean")

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0

    def add(self, values: FloatArray) -> None:
        """Merge a batch (Chan et al.'s parallel form of Welford's update)."""
        values = values[~np.isnan(values)]
        n_b = int(values.size)
        if n_b == 0:
            return
        mean_b = float(values.sum()) / n_b
        deviations = values - mean_b
        m2_b = float(np.dot(deviations, deviations))
        n = self.count + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.count * n_b / n
        self.count = n

    @property
    def variance(self) -> float:
        """The sample variance (NaN below two values)."""
        return self.m2 / (self.count - 1) if self.count > 1 else math.nan


class _Series:
    """A float array that grows by doubling (amortised O(1) per value)."""

    __slots__ = ("_data", "_size")

    def __init__(self) -> None:
        self._data: FloatArray = np.empty(256, dtype=np.float64)
        self._size = 0

    def extend(self, values: FloatArray) -> None:
        values = values[~np.isnan(values)]
        need = self._size + values.size
        if need > self._data.size:
            grown = np.empty(max(need, 2 * self._data.size), dtype=np.float64)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : need] = values
        self._size = need

    @property
    def values(self) -> FloatArray:
        return self._data[: self._size]

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (linear interpolation, as numpy's default), NaN when empty. It
        partitions the buffer in place: the order of the values is not kept (nothing needs it)."""
        n = self._size
        if n == 0:
            return math.nan
        position = q * (n - 1)
        low = math.floor(position)
        high = min(low + 1, n - 1)
        data = self._data[:n]
        data.partition([low, high] if high != low else low)
        return float(data[low] + (position - low) * (data[high] - data[low]))


def _floats(rows: Sequence[Mapping[str, Any]], key: str) -> FloatArray:
    return np.array([math.nan if row.get(key) is None else float(row[key]) for row in rows], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class CallBatch:
    """Calls of one arm as columns of one length (NaN: not known for that call)."""

    error: BoolArray
    ok: BoolArray
    latency_ms: FloatArray
    ttft_ms: FloatArray
    cost_usd: FloatArray
    response_chars: FloatArray
    refusal: BoolArray
    bad_finish: BoolArray

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> CallBatch:
        """From ``evidence_rows`` dicts (keys status, attempts, latency_ms, ttft_ms, stream,
        cost_usd, response_chars, finish_reason, response_text)."""
        ok = np.array([row.get("status") != "error" for row in rows], dtype=bool)
        attempts = np.array([(row.get("attempts") or 1) > 1 for row in rows], dtype=bool)
        streamed = np.array([bool(row.get("stream")) for row in rows], dtype=bool)
        finish = [row.get("finish_reason") for row in rows]
        ttft = _floats(rows, "ttft_ms")
        ttft[~streamed] = math.nan
        return cls(
            error=~ok | attempts,
            ok=ok,
            latency_ms=_floats(rows, "latency_ms"),
            ttft_ms=ttft,
            cost_usd=_floats(rows, "cost_usd"),
            response_chars=_floats(rows, "response_chars"),
            refusal=np.array(
                [
                    reason == "content_filter" or (good and is_refusal(row.get("response_text")))
                    for row, reason, good in zip(rows, finish, ok, strict=True)
                ],
                dtype=bool,
            ),
            bad_finish=np.array([r is not None and r not in GOOD_FINISH_REASONS for r in finish], dtype=bool),
        )


@dataclass(frozen=True, slots=True)
class QualityBatch:
    """Monitor scores of one arm's sampled calls (NaN: not scored) and their answer embeddings."""

    groundedness: FloatArray
    context_relevance: FloatArray
    answer_relevance: FloatArray
    vectors: tuple[np.ndarray[Any, np.dtype[np.float32]], ...] = ()

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> QualityBatch:
        """From ``quality_rows`` dicts (keys groundedness, context_relevance, answer_relevance,
        response_vector as little-endian float32 bytes, dim)."""
        vectors = []
        for row in rows:
            raw = row.get("response_vector")
            if not raw or len(raw) % 4:
                continue  # none, or not float32s
            vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
            if row.get("dim") in (None, vector.size):
                vectors.append(vector)
        return cls(
            groundedness=_floats(rows, "groundedness"),
            context_relevance=_floats(rows, "context_relevance"),
            answer_relevance=_floats(rows, "answer_relevance"),
            vectors=tuple(vectors),
        )


@dataclass(eq=False)
class ArmEvidence:
    """Everything the gates need to know about one arm, since the canary started."""

    requests: int = 0
    errors: int = 0
    answers: int = 0
    refusals: int = 0
    bad_finishes: int = 0
    cost: RunningMoments = field(default_factory=RunningMoments)
    response_chars: RunningMoments = field(default_factory=RunningMoments)
    groundedness: RunningMoments = field(default_factory=RunningMoments)
    context_relevance: RunningMoments = field(default_factory=RunningMoments)
    answer_relevance: RunningMoments = field(default_factory=RunningMoments)
    quality_samples: int = 0
    vectors_seen: int = 0
    vectors: deque[np.ndarray[Any, np.dtype[np.float32]]] = field(
        default_factory=lambda: deque(maxlen=MAX_VECTORS)
    )
    _latency: _Series = field(default_factory=_Series)
    _ttft: _Series = field(default_factory=_Series)

    def add_calls(self, batch: CallBatch) -> None:
        ok = batch.ok
        self.requests += int(ok.size)
        self.errors += int(batch.error.sum())
        self.answers += int(ok.sum())
        self.refusals += int((batch.refusal & ok).sum())
        self.bad_finishes += int((batch.bad_finish & ok).sum())
        self.cost.add(batch.cost_usd[ok])
        self.response_chars.add(batch.response_chars[ok])
        self._latency.extend(batch.latency_ms[ok])
        self._ttft.extend(batch.ttft_ms[ok])

    def add_quality(self, batch: QualityBatch) -> None:
        self.quality_samples += int(batch.groundedness.size)
        for name in QUALITY_SCORES:
            self.scores(name).add(getattr(batch, name))
        self.vectors.extend(batch.vectors)
        self.vectors_seen += len(batch.vectors)

    def scores(self, name: str) -> RunningMoments:
        """The running moments of one monitor score (``groundedness``, ...)."""
        if name not in QUALITY_SCORES:
            raise KeyError(name)
        moments: RunningMoments = getattr(self, name)
        return moments

    @property
    def latency_ms(self) -> FloatArray:
        """Latency of every successful call so far, in no particular order (a view: do not keep
        it across updates)."""
        return self._latency.values

    def latency_quantile(self, q: float, *, streamed: bool = False) -> float:
        """A quantile of the latency (of the time to first token with ``streamed``), NaN when empty."""
        return (self._ttft if streamed else self._latency).quantile(q)

    @property
    def ttft_ms(self) -> FloatArray:
        """Time to first token of every successful streamed call so far (a view)."""
        return self._ttft.values

    def response_vectors(self) -> np.ndarray[Any, np.dtype[np.float32]] | None:
        """The kept answer embeddings as one matrix (``None`` when there are none or their
        dimensions disagree, as after a change of embedder)."""
        if not self.vectors or len({v.size for v in self.vectors}) != 1:
            return None
        return np.stack(list(self.vectors))


class CanaryEvidence:
    """Both arms of one canary, plus the candidate's requests at the current step."""

    def __init__(self) -> None:
        self.stable = ArmEvidence()
        self.candidate = ArmEvidence()
        self.step_requests = 0
        self.step_started_at: datetime | None = None
        self.first_candidate_at: datetime | None = None
        #: the drift gate's last test: (its test, vectors seen per arm then, its result); see gates.py
        self.drift_memo: tuple[object, int, int, tuple[float, float, float]] | None = None

    def arm(self, name: str) -> ArmEvidence:
        if name == "stable":
            return self.stable
        if name == "candidate":
            return self.candidate
        raise KeyError(name)

    def start_step(self, at: datetime | None = None) -> None:
        """A new step began (at ``at``): its candidate requests are counted from zero, and rows
        created before ``at`` that arrive later do not count for it."""
        self.step_requests = 0
        self.step_started_at = at

    def add_calls(self, arm: str, batch: CallBatch, *, step_requests: int | None = None) -> None:
        """Add a batch of one arm's calls; all of a candidate batch counts for the current step
        unless ``step_requests`` says how many of it do."""
        self.arm(arm).add_calls(batch)
        if arm == "candidate":
            self.step_requests += int(batch.ok.size) if step_requests is None else step_requests

    def add_rows(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Add ``evidence_rows`` dicts (rows of another arm, or none, are skipped); returns how
        many were used."""
        by_arm: dict[str, list[Mapping[str, Any]]] = {"stable": [], "candidate": []}
        for row in rows:
            arm = row.get("arm")
            if arm in by_arm:
                by_arm[arm].append(row)
        candidates = by_arm["candidate"]
        if candidates:
            stamps = [
                _utc(row["created_at"]) for row in candidates if isinstance(row.get("created_at"), datetime)
            ]
            first = min(stamps, default=None)
            if first is not None and (self.first_candidate_at is None or first < self.first_candidate_at):
                self.first_candidate_at = first
        for arm, arm_rows in by_arm.items():
            if arm_rows:
                self.add_calls(arm, CallBatch.from_rows(arm_rows), step_requests=self._in_step(arm_rows))
        return len(by_arm["stable"]) + len(candidates)

    def add_quality(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Add ``quality_rows`` dicts; returns how many were used."""
        by_arm: dict[str, list[Mapping[str, Any]]] = {"stable": [], "candidate": []}
        for row in rows:
            arm = row.get("arm")
            if arm in by_arm:
                by_arm[arm].append(row)
        for arm, arm_rows in by_arm.items():
            if arm_rows:
                self.arm(arm).add_quality(QualityBatch.from_rows(arm_rows))
        return sum(len(arm_rows) for arm_rows in by_arm.values())

    def _in_step(self, rows: Sequence[Mapping[str, Any]]) -> int:
        start = self.step_started_at
        if start is None:
            return len(rows)
        return sum(1 for row in rows if _at_or_after(row.get("created_at"), start))


def _utc(stamp: datetime) -> datetime:
    """A naive time is taken as UTC (so naive and aware times compare)."""
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp


def _at_or_after(stamp: object, start: datetime) -> bool:
    """Is ``stamp`` (a row's created_at) at or after ``start``? A row without a time counts as new."""
    return not isinstance(stamp, datetime) or _utc(stamp) >= _utc(start)
