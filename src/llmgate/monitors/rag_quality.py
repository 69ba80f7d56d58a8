"""Retrieval quality of live RAG traffic: find a request's retrieved context, score it, summarise a window.

The monitor worker hands each sampled record here. Three steps, each a pure function:

1. ``extract_rag`` (``rag_extract.py``) finds the question, the retrieved passages and the answer
   in a recorded request, from the configured ``ContextSources``.

2. ``score_rag`` scores an example with the shared quality scorers, one implementation each:
   ``context_relevance`` (does the context match the question?), ``grounded`` (is the answer
   supported by the context? the same scorer as the eval suites' ``grounded`` assertion) and
   ``answer_relevance`` (does the answer address the question?).

3. ``summarise`` reduces a window of scored requests to, per metric, the mean, the 10th
   percentile and the share of requests under the metric's threshold; the metrics whose
   window mean is under its threshold (``breaches``); and the worst requests, ranked by how far
   their worst metric falls under (or stays above) its threshold.

Default thresholds (``RagThresholds``) are lowest acceptable *window means*, read off the
shared HaluEval data (``benchmarks/embedder_throughput.py`` prints the window means): each is
at or below the midpoint between the mean of healthy traffic and that of traffic failing the
metric, so that on that data a window breaches when about half its requests fail the metric
(two thirds for groundedness, which is set lower still), and a healthy window, with its
spread, stays well clear of it:

- ``context_relevance`` 0.45: QA questions with their own knowledge average 0.85, with another
  row's knowledge 0.05 (midpoint 0.45). One relevant passage among two unrelated ones scores
  about 0.69, so an ordinary top-k retrieval stays above it.
- ``groundedness`` 0.55: right answers average 0.98, hallucinated ones 0.34 (midpoint 0.66);
  lowered because HaluEval's right answers are short spans of the knowledge, while a faithful
  answer in the model's own words scores lower (about 0.45 to 0.75 on hand-written ones).
- ``answer_relevance`` 0.5: general-assistant responses to their own query average 0.89, to
  another query 0.15 (midpoint 0.52); on QA 0.79 against 0.55 (short answers keep a floor).

They are starting points: set them per deployment from its own healthy window
(``llmgate.monitors.rag.thresholds``).

Scoring needs an embedder (``quality.embedder.TextEmbedder``); extraction and summaries are
pure Python. Nothing is imported from numpy or torch here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmgate.errors import ConfigError
from llmgate.monitors.rag_extract import (
    DEFAULT_DELIMITERS,
    SOURCES,
    ContextSources,
    RagExample,
    extract_rag,
    split_passages,
)
from llmgate.quality.context_relevance import context_relevance
from llmgate.quality.grounded import grounded
from llmgate.quality.relevance import answer_relevance

if TYPE_CHECKING:
    from llmgate.config.monitors import RagSettings
    from llmgate.quality.embedder import TextEmbedder

__all__ = [
    "DEFAULT_DELIMITERS",
    "METRICS",
    "SOURCES",
    "ContextSources",
    "MetricSummary",
    "RagExample",
    "RagScores",
    "RagSummary",
    "RagThresholds",
    "WorstRequest",
    "context_sources",
    "extract_rag",
    "score_rag",
    "split_passages",
    "summarise",
]

#: The three scores, in the order they are reported.
METRICS = ("context_relevance", "groundedness", "answer_relevance")


@dataclass(frozen=True)
class RagThresholds:
    """Lowest acceptable window mean of each metric (module doc: how the defaults were chosen)."""

    context_relevance: float = 0.45
    groundedness: float = 0.55
    answer_relevance: float = 0.5

    def __post_init__(self) -> None:
        for name in METRICS:
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"the {name} threshold must be a number in [0, 1], got {value!r}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> RagThresholds:
        """From configuration: any of the three metric names; the rest keep their defaults."""
        unknown = set(mapping) - set(METRICS)
        if unknown:
            raise ConfigError(f"unknown retrieval-quality thresholds: {', '.join(sorted(unknown))}")
        return cls(**{k: float(v) for k, v in mapping.items()})

    def of(self, metric: str) -> float:
        value: float = getattr(self, metric)
        return value


def context_sources(rag: RagSettings) -> ContextSources:
    """Where ``llmgate.monitors.rag`` says to look for context (the worker and the dashboard alike)."""
    return ContextSources.from_mapping(
        {
            "sources": tuple(rag.sources),
            "metadata_key": rag.metadata_key,
            **({"delimiters": tuple(rag.delimiters)} if rag.delimiters else {}),
        }
    )


# --- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RagScores:
    """The three retrieval-quality scores of one request, each in [0, 1], higher is better."""

    context_relevance: float
    groundedness: float
    answer_relevance: float
    #: Context relevance of each passage, in order.
    per_passage: tuple[float, ...] = ()
    #: The answer's numbers, names and words that the context does not contain (for drill-down).
    unsupported: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (a score that is not a finite number becomes None)."""
        return {
            "context_relevance": _number(self.context_relevance),
            "groundedness": _number(self.groundedness),
            "answer_relevance": _number(self.answer_relevance),
            "per_passage": list(self.per_passage),
            "unsupported": list(self.unsupported),
        }


def score_rag(example: RagExample, *, embedder: TextEmbedder) -> RagScores:
    """Score one RAG request with the shared scorers (``quality``); see the module doc."""
    context = context_relevance(example.question, example.passages, embedder=embedder)
    support = grounded(example.answer, example.passages, question=example.question, embedder=embedder)
    relevance = answer_relevance(example.question, example.answer, embedder=embedder)
    return RagScores(
        context_relevance=context.score,
        groundedness=support.score,
        answer_relevance=relevance.score,
        per_passage=context.per_passage,
        unsupported=support.missing,
    )


# --- a window -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSummary:
    """One metric over a window. ``mean`` and ``p10`` are None for an empty window."""

    mean: float | None
    p10: float | None
    #: Share of the window's requests scoring under the threshold.
    share_below: float
    threshold: float

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "p10": self.p10,
            "share_below": self.share_below,
            "threshold": self.threshold,
        }


@dataclass(frozen=True)
class WorstRequest:
    """One of a window's worst requests."""

    record_id: str
    context_relevance: float
    groundedness: float
    answer_relevance: float
    #: The metric furthest under (or least above) its threshold.
    worst_metric: str
    #: That metric's score minus its threshold: negative when under it.
    margin: float

    def to_json(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "context_relevance": _number(self.context_relevance),
            "groundedness": _number(self.groundedness),
            "answer_relevance": _number(self.answer_relevance),
            "worst_metric": self.worst_metric,
            "margin": self.margin,
        }


@dataclass(frozen=True)
class RagSummary:
    """Retrieval quality over a window of requests; see ``summarise``."""

    n: int
    context_relevance: MetricSummary
    groundedness: MetricSummary
    answer_relevance: MetricSummary
    #: Metrics whose window mean is under their threshold.
    breaches: tuple[str, ...] = ()
    #: The worst requests, worst first.
    worst: tuple[WorstRequest, ...] = field(default=())

    def metric(self, name: str) -> MetricSummary:
        if name not in METRICS:
            raise KeyError(name)
        summary: MetricSummary = getattr(self, name)
        return summary

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "metrics": {name: self.metric(name).to_json() for name in METRICS},
            "breaches": list(self.breaches),
            "worst": [w.to_json() for w in self.worst],
        }


def summarise(
    scored: Sequence[tuple[str, RagScores]], *, thresholds: RagThresholds, worst_n: int = 10
) -> RagSummary:
    """Summarise a window of ``(record id, scores)``: per metric the mean, the 10th percentile
    (linear interpolation) and the share under its threshold; the metrics whose mean is under
    the threshold; and the ``worst_n`` requests with the lowest margin (score minus threshold)
    of their worst metric, ties broken by record id. A score that is not a finite number is
    left out of its metric's statistics."""
    metrics: dict[str, MetricSummary] = {}
    for name in METRICS:
        threshold = thresholds.of(name)
        values = sorted(v for v in (_number(getattr(s, name)) for _, s in scored) if v is not None)
        if not values:
            metrics[name] = MetricSummary(None, None, 0.0, threshold)
            continue
        metrics[name] = MetricSummary(
            mean=math.fsum(values) / len(values),
            p10=_quantile(values, 0.10),
            share_below=sum(v < threshold for v in values) / len(values),
            threshold=threshold,
        )
    breaches = tuple(
        name for name in METRICS if (m := metrics[name]).mean is not None and m.mean < m.threshold
    )
    ranked = []
    for record_id, scores in scored:
        margins = [
            (value - thresholds.of(name), METRICS.index(name), name)
            for name in METRICS
            if (value := _number(getattr(scores, name))) is not None
        ]
        if not margins:
            continue
        margin, _, name = min(margins)
        ranked.append((margin, str(record_id), name, scores))
    ranked.sort(key=lambda item: (item[0], item[1]))
    worst = tuple(
        WorstRequest(
            record_id=record_id,
            context_relevance=scores.context_relevance,
            groundedness=scores.groundedness,
            answer_relevance=scores.answer_relevance,
            worst_metric=name,
            margin=margin,
        )
        for margin, record_id, name, scores in ranked[: max(0, worst_n)]
    )
    return RagSummary(
        n=len(scored),
        context_relevance=metrics["context_relevance"],
        groundedness=metrics["groundedness"],
        answer_relevance=metrics["answer_relevance"],
        breaches=breaches,
        worst=worst,
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile of sorted ``values``, interpolated linearly (numpy's default)."""
    position = q * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)
