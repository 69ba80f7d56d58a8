"""Traffic metrics: cumulative counters and histograms of finished calls, by label.

``CallMetrics.observe`` runs where a call becomes a row (the writer process, or the in-process
recorder), never on the request path: it needs the parsed tokens and cost. The writer process
ships what it observed since its last answer (``take``) with each acknowledgement, and the
gateway ``merge``s it into its own ``CallMetrics``, which ``prometheus.py`` exposes at
``GET /metrics``. A delta is a plain dict (pickled down the pipe), so nothing here depends on
``prometheus_client``.

The metric names and labels are a contract (Grafana dashboards read them): see ``COUNTERS`` and
``HISTOGRAMS``.
"""

from __future__ import annotations

import bisect
import os
import pickle
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmgate.telemetry.call_record import CallRecord, fell_back

#: name -> (help, label names); every value is a running total
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "llmgate_requests_total": (
        "Requests served, by endpoint, requested model, deployment that answered and HTTP status.",
        ("endpoint", "model", "deployment", "status_code"),
    ),
    "llmgate_request_errors_total": (
        "Requests answered with an error, by error type.",
        ("model", "deployment", "error_type"),
    ),
    "llmgate_tokens_total": (
        "Tokens, by type: input, output, cached (input read from a cache), reasoning (part of output).",
        ("model", "deployment", "team", "type"),
    ),
    "llmgate_cost_usd_total": (
        "Spend in USD, at the prices llmgate recorded (as in llmgate report spend).",
        ("model", "deployment", "team"),
    ),
    "llmgate_upstream_attempts_total": (
        "Calls to upstream deployments, by outcome (success or the error type).",
        ("deployment", "outcome"),
    ),
    "llmgate_retries_total": (
        "Upstream attempts beyond the first of a request (retries and fallbacks).",
        ("model",),
    ),
    "llmgate_fallbacks_total": (
        "Requests answered by a fallback model group rather than the one asked for.",
        ("model", "fallback_model"),
    ),
    "llmgate_cache_requests_total": (
        "Requests the response cache saw, by result: hit, semantic-hit (answered from the cache), "
        "miss (sent upstream), bypass (the cache was skipped: no-cache, denied, not cacheable).",
        ("model", "result"),
    ),
    "llmgate_cache_saved_usd_total": (
        "What the response cache's hits would have cost in USD, at the prices of the day each was "
        "served (saved in llmgate report spend); a hit itself costs 0.",
        ("model",),
    ),
    # counted in the gateway process (``telemetry/auth_failures.py``): these requests are not recorded
    "llmgate_auth_failures_total": (
        "Requests refused for a missing or wrong API key (counted and logged, not stored as records).",
        ("reason",),
    ),
    # counted in the gateway process (``auth/registry.py``): keys its copy lacked, asked of the store
    "llmgate_key_lookups_total": (
        "Well-formed API keys the gateway's copy of the keys lacked, by result: found or unknown in the "
        "store, failed (store error), skipped (not asked: over the lookup rate, or unknown a moment ago).",
        ("result",),
    ),
    # counted in the gateway process (``cache/guard.py``): the request went on without the cache
    "llmgate_cache_errors_total": (
        "Response cache backend calls that failed or timed out and were skipped, by backend "
        "(local, redis) and operation (get, find, set, stats, clear).",
        ("backend", "op"),
    ),
}

#: name -> (help, label names, bucket upper bounds in seconds)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "llmgate_request_duration_seconds": (
        "Time from a request's arrival to its last byte.",
        ("model", "deployment"),
        _LATENCY_BUCKETS,
    ),
    "llmgate_time_to_first_token_seconds": (
        "Time from a streamed request's arrival to its first chunk.",
        ("model", "deployment"),
        _LATENCY_BUCKETS,
    ),
}

Labels = tuple[str, ...]
#: {"c": {(name, labels): total}, "h": {(name, labels): [count per bucket..., +Inf count, sum]}}
Delta = dict[str, dict[tuple[str, Labels], Any]]

NONE = ""  # label value when a request has no deployment, team, ...
#: the one ``model`` label of every request for a model that is not configured (label values
#: stay bounded however many names clients invent)
UNKNOWN_MODEL = "__unknown__"


class CallMetrics:
    """Running totals of finished calls. Thread-safe (the recorder may observe from a thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, Labels], float] = {}
        self._histograms: dict[tuple[str, Labels], list[float]] = {}

    # --- writing ------------------------------------------------------------------------------

    def observe(self, call: CallRecord, row: dict[str, Any]) -> None:
        """Count one finished call (``row``: its stored form, with tokens and cost)."""
        deployment = call.deployment.id if call.deployment is not None else NONE
        model = (call.model or NONE) if call.model_known else UNKNOWN_MODEL
        team = call.team_id or NONE
        with self._lock:
            add = self._add
            add("llmgate_requests_total", (call.endpoint, model, deployment, str(call.status_code)))
            if call.status_code >= 400 or call.error_type:
                add("llmgate_request_errors_total", (model, deployment, call.error_type or "error"))
            for column, kind in (
                ("prompt_tokens", "input"),
                ("completion_tokens", "output"),
                ("cached_tokens", "cached"),
                ("reasoning_tokens", "reasoning"),
            ):
                if row.get(column):
                    add("llmgate_tokens_total", (model, deployment, team, kind), row[column])
            cost = row.get("cost_usd")
            if isinstance(cost, Decimal) and cost:
                add("llmgate_cost_usd_total", (model, deployment, team), float(cost))
            for attempt in call.attempts:
                outcome = "success" if attempt.status == "success" else attempt.error_type or "error"
                add("llmgate_upstream_attempts_total", (attempt.deployment, outcome))
            if len(call.attempts) > 1:
                add("llmgate_retries_total", (model,), len(call.attempts) - 1)
            if call.deployment is not None and fell_back(call):
                add("llmgate_fallbacks_total", (model, call.deployment.model_name))
            if call.attempts or call.deployment is not None:
                self._observe("llmgate_request_duration_seconds", (model, deployment), call.latency_ms / 1000)
            if call.ttft_ms is not None:
                self._observe("llmgate_time_to_first_token_seconds", (model, deployment), call.ttft_ms / 1000)
            if call.cache is not None:
                add("llmgate_cache_requests_total", (model, call.cache))
                saved = row.get("saved_usd")
                if isinstance(saved, Decimal) and saved:
                    add("llmgate_cache_saved_usd_total", (model,), float(saved))

    def count(self, name: str, labels: Labels, value: float = 1.0) -> None:
        """Add to a counter of ``COUNTERS`` observed outside ``observe`` (requests never recorded)."""
        with self._lock:
            self._add(name, labels, value)

    def _add(self, name: str, labels: Labels, value: float = 1.0) -> None:
        key = (name, labels)
        self._counters[key] = self._counters.get(key, 0.0) + value

    def _observe(self, name: str, labels: Labels, value: float) -> None:
        bounds = HISTOGRAMS[name][2]
        key = (name, labels)
        slots = self._histograms.get(key)
        if slots is None:
            slots = self._histograms[key] = [0.0] * (len(bounds) + 2)
        slots[bisect.bisect_left(bounds, value)] += 1  # le is inclusive: value == bound counts there
        slots[-1] += value

    # --- moving deltas between processes ------------------------------------------------------

    def take(self) -> Delta | None:
        """Everything observed since the last ``take`` (and forget it); ``None`` when nothing was."""
        with self._lock:
            if not self._counters and not self._histograms:
                return None
            delta: Delta = {"c": self._counters, "h": self._histograms}
            self._counters, self._histograms = {}, {}
        return delta

    def merge(self, delta: Delta | None) -> None:
        if not delta:
            return
        with self._lock:
            for key, value in delta.get("c", {}).items():
                self._counters[key] = self._counters.get(key, 0.0) + value
            for key, slots in delta.get("h", {}).items():
                mine = self._histograms.get(key)
                if mine is None or len(mine) != len(slots):
                    self._histograms[key] = list(slots)
                else:
                    for i, value in enumerate(slots):
                        mine[i] += value

    # --- reading ------------------------------------------------------------------------------

    def snapshot(self) -> tuple[dict[tuple[str, Labels], float], dict[tuple[str, Labels], list[float]]]:
        """Copies of the running totals: counters, and histograms as per-bucket counts + sum."""
        with self._lock:
            return dict(self._counters), {k: list(v) for k, v in self._histograms.items()}


class SharedTotals:
    """Totals across the worker processes of one ``llmgate serve --workers N``.

    A scrape reaches one worker at random; each worker therefore publishes its running totals to
    ``directory`` (one file per process, replaced atomically every few seconds and at each scrape)
    and a scrape sums every worker's file. A worker that exits leaves its file, so totals never go
    backwards when uvicorn replaces it. ``llmgate serve`` empties the directory before starting.
    """

    def __init__(self, directory: Path, metrics: CallMetrics) -> None:
        self.directory = directory
        self.metrics = metrics
        self._own = directory / f"worker-{os.getpid()}.pickle"

    def publish(self) -> None:
        counters, histograms = self.metrics.snapshot()
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self._own.with_suffix(".tmp")
        partial.write_bytes(pickle.dumps({"c": counters, "h": histograms}))
        partial.replace(self._own)

    def combined(self) -> CallMetrics:
        """This worker's live totals plus every other worker's last published ones."""
        total = CallMetrics()
        counters, histograms = self.metrics.snapshot()
        total.merge({"c": counters, "h": histograms})
        for path in sorted(self.directory.glob("worker-*.pickle")):
            if path == self._own:
                continue
            try:
                total.merge(pickle.loads(path.read_bytes()))
            except (OSError, pickle.UnpicklingError, EOFError):
                continue  # being replaced right now: the next scrape has it
        return total
