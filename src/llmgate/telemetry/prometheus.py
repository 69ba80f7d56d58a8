"""``GET /metrics`` in Prometheus' text format: traffic totals plus gauges read when scraped.

A ``prometheus_client`` collector over a per-app registry (nothing global, nothing at import):
the counters and histograms come from ``CallMetrics`` (rendered as they stand at scrape time),
the gauges from ``Gauge`` samples the server gathers for each scrape (circuit state, the record
queue and spill, budgets, drift statistics, retrieval quality, eval pass rates). Names are listed in
``metrics.COUNTERS``/``metrics.HISTOGRAMS`` and ``GAUGES``; ``configs/grafana/`` reads exactly these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from llmgate.telemetry.metrics import COUNTERS, HISTOGRAMS, CallMetrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: name -> (help, label names, type); values come from the server's gauge sources at scrape time
_BUDGET = ("scope", "name", "period")
_STAT = ("model", "route", "kind", "statistic")
_GROUP = ("model", "route")  # a monitored group, as in the drift gauges
_RAG = ("model", "route", "metric")
_SUITE = ("suite", "model")
GAUGES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "llmgate_info": ("llmgate build information.", ("version",), "gauge"),
    "llmgate_circuit_state": (
        "Circuit of each deployment: 0 closed (serving), 1 open (cooling down after failures), 2 half-open.",
        ("deployment",),
        "gauge",
    ),
    "llmgate_deployment_in_flight": ("Requests in flight to each deployment.", ("deployment",), "gauge"),
    "llmgate_record_queue_depth": ("Records waiting to be written to the store.", (), "gauge"),
    "llmgate_spill_bytes": ("Bytes of records kept on disk while the store is down.", (), "gauge"),
    "llmgate_spill_files": ("Number of spill files.", (), "gauge"),
    "llmgate_store_up": ("1 when the last write to the store succeeded.", (), "gauge"),
    "llmgate_records_written_total": ("Records written to the store.", (), "counter"),
    "llmgate_records_spilled_total": ("Records written to a spill file instead of the store.", (), "counter"),
    "llmgate_records_degraded_total": (
        "Records the store could not take as they were, stored with their bodies replaced by a marker.",
        (),
        "counter",
    ),
    "llmgate_records_lost_total": (
        "Records that could be neither stored nor kept on disk, and are gone (see the ERROR log).",
        (),
        "counter",
    ),
    "llmgate_records_at_risk": (
        "Records held in memory only, because neither the store nor the spill directory takes them.",
        (),
        "gauge",
    ),
    "llmgate_budget_spend_usd": (
        "Spend in the current budget period, per key, team or user with a budget.",
        _BUDGET,
        "gauge",
    ),
    "llmgate_budget_limit_usd": ("Budget for the period.", _BUDGET, "gauge"),
    "llmgate_budget_used_ratio": ("Spend divided by budget (1 = exhausted).", _BUDGET, "gauge"),
    "llmgate_drift_statistic": (
        "Latest value of each drift and retrieval-quality statistic, per model and route.",
        _STAT,
        "gauge",
    ),
    "llmgate_drift_threshold": ("Threshold of each statistic (a breach opens an alert).", _STAT, "gauge"),
    "llmgate_drift_breached": ("1 when the latest value breached its threshold.", _STAT, "gauge"),
    # retrieval quality of RAG requests: the monitor's latest window means (0 to 1, higher is better)
    "llmgate_rag_context_relevance": (
        "Retrieval quality: mean context relevance (does the retrieved context match the question?).",
        _GROUP,
        "gauge",
    ),
    "llmgate_rag_groundedness": (
        "Retrieval quality: mean groundedness (is the answer supported by the retrieved context?).",
        _GROUP,
        "gauge",
    ),
    "llmgate_rag_answer_relevance": (
        "Retrieval quality: mean answer relevance (does the answer address the question?).",
        _GROUP,
        "gauge",
    ),
    "llmgate_rag_threshold": ("Lowest acceptable window mean of each retrieval metric.", _RAG, "gauge"),
    "llmgate_rag_below_threshold_ratio": (
        "Share of the window's RAG requests scoring under the metric's threshold.",
        _RAG,
        "gauge",
    ),
    "llmgate_monitor_alerts_open": ("Monitor conditions (alerts) currently open.", (), "gauge"),
    "llmgate_monitor_last_success_timestamp": (
        "When the monitor worker's last fully successful pass ended (unix seconds).",
        (),
        "gauge",
    ),
    "llmgate_monitor_failures_total": (
        "Monitor worker passes that failed (in whole or in part).",
        (),
        "counter",
    ),
    "llmgate_monitor_consecutive_failures": ("Monitor worker passes that failed in a row.", (), "gauge"),
    "llmgate_monitor_lag_seconds": (
        "How far behind the monitor worker reads records: now minus the newest time it has read up to.",
        (),
        "gauge",
    ),
    "llmgate_eval_pass_rate": ("Pass rate of the latest finished eval run.", _SUITE, "gauge"),
    "llmgate_eval_cases": ("Cases in the latest finished eval run.", _SUITE, "gauge"),
    "llmgate_eval_last_run_timestamp_seconds": ("Start of the latest finished eval run.", _SUITE, "gauge"),
}


@dataclass(frozen=True, slots=True)
class Sample:
    """One gauge value read at scrape time (``name`` is a key of ``GAUGES``)."""

    name: str
    value: float
    labels: tuple[str, ...] = ()


class _Collector(Collector):
    def __init__(self, metrics: Callable[[], CallMetrics], gauges: Callable[[], Iterable[Sample]]) -> None:
        self._metrics = metrics
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        counters, histograms = self._metrics().snapshot()
        for name, (help_text, labels) in COUNTERS.items():
            family = CounterMetricFamily(name.removesuffix("_total"), help_text, labels=list(labels))
            for (metric, values), total in sorted(counters.items()):
                if metric == name:
                    family.add_metric(list(values), total)
            yield family
        for name, (help_text, labels, bounds) in HISTOGRAMS.items():
            hist = HistogramMetricFamily(name, help_text, labels=list(labels))
            for (metric, values), slots in sorted(histograms.items()):
                if metric != name:
                    continue
                cumulative, buckets = 0.0, []
                for bound, count in zip((*bounds, math.inf), slots[:-1], strict=True):
                    cumulative += count
                    buckets.append((_le(bound), cumulative))
                hist.add_metric(list(values), buckets, slots[-1])
            yield hist
        by_name: dict[str, list[Sample]] = {}
        for sample in self._gauges():
            by_name.setdefault(sample.name, []).append(sample)
        for name, (help_text, labels, kind) in GAUGES.items():
            gauge: CounterMetricFamily | GaugeMetricFamily
            if kind == "counter":
                gauge = CounterMetricFamily(name.removesuffix("_total"), help_text, labels=list(labels))
            else:
                gauge = GaugeMetricFamily(name, help_text, labels=list(labels))
            for sample in by_name.get(name, []):
                gauge.add_metric(list(sample.labels), sample.value)
            yield gauge


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class Exposition:
    """The registry behind ``GET /metrics`` for one app. ``metrics`` is the ``CallMetrics`` to
    render, or a callable giving it at each scrape (several workers' totals combined)."""

    def __init__(
        self, metrics: CallMetrics | Callable[[], CallMetrics], gauges: Callable[[], Iterable[Sample]]
    ) -> None:
        source = metrics if callable(metrics) else (lambda: metrics)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(source, gauges))

        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(_Proxy(standard))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Proxy(Collector):
    """prometheus_client's process/platform/GC collectors, in this registry too."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def collect(self) -> Iterable[Metric]:
        result: Iterable[Metric] = self._inner.collect()
        return result
