"""``GET /metrics``: Prometheus' text format (see ``telemetry/prometheus.py`` for the names).

Traffic totals come from the app's ``CallMetrics`` (merged from the writer process as it works).
Gauges are read at scrape time: circuits and the record queue from memory, and what lives in
the store (budget use, the latest drift statistics, the monitor worker's health, eval pass
rates) through one cached read in a worker thread, at most every ``STORE_TTL_S``. A store that
is down leaves those out and the rest is served. Open by default, as scrape targets are;
``llmgate.metrics_require_auth: true`` asks for the master key or an admin key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from llmgate.server.deps import app_state
from llmgate.server.http import check_operator
from llmgate.telemetry.prometheus import CONTENT_TYPE, GAUGES, Exposition, Sample
from llmgate.version import __version__

if TYPE_CHECKING:
    from llmgate.server.app import AppState

log = logging.getLogger("llmgate.server.metrics")
router = APIRouter(tags=["metrics"])

#: how long store-backed gauges are reused between scrapes
STORE_TTL_S = 15.0
_CIRCUIT = {"closed": 0.0, "open": 1.0, "half_open": 2.0}


# The store, reports and monitors modules are imported in the handlers: this module loads when the
# admin app is built (even for a /metrics scrape), SQLAlchemy and numpy only when a handler needs them.


class MetricsEndpoint:
    """The exposition of one app, and its cache of store-backed gauges."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self._store: list[Sample] = []
        self._store_at = -STORE_TTL_S
        self._lock = asyncio.Lock()
        shared = state.shared_totals
        self.exposition = Exposition(shared.combined if shared is not None else state.metrics, self._samples)

    async def refresh(self) -> None:
        if self.state.shared_totals is not None:  # other workers read what this one has counted
            await asyncio.to_thread(self.state.shared_totals.publish)
        async with self._lock:
            if time.monotonic() - self._store_at < STORE_TTL_S:
                return
            self._store = await asyncio.to_thread(self._read_store)
            self._store_at = time.monotonic()

    def _samples(self) -> list[Sample]:
        state = self.state
        out = [Sample("llmgate_info", 1.0, (__version__,))]
        health = state.router.health
        for deployment, in_flight in health.local_in_flight().items():
            circuit = _CIRCUIT.get(health.circuit(deployment), 0.0)
            out.append(Sample("llmgate_circuit_state", circuit, (deployment,)))
            out.append(Sample("llmgate_deployment_in_flight", float(in_flight), (deployment,)))
        stats = state.recorder.stats()
        out += [
            Sample("llmgate_record_queue_depth", float(stats.get("queued", 0))),
            Sample("llmgate_spill_bytes", float(stats.get("spill_bytes", 0))),
            Sample("llmgate_spill_files", float(stats.get("spill_files", 0))),
            Sample("llmgate_store_up", 1.0 if stats.get("store_ok", True) else 0.0),
            Sample("llmgate_records_written_total", float(stats.get("written", 0))),
            Sample("llmgate_records_spilled_total", float(stats.get("spilled", 0))),
            Sample("llmgate_records_degraded_total", float(stats.get("degraded", 0))),
            Sample("llmgate_records_lost_total", float(stats.get("lost", 0))),
            Sample("llmgate_records_at_risk", float(stats.get("at_risk", 0))),
        ]
        return out + self._store

    def _read_store(self) -> list[Sample]:
        out: list[Sample] = []
        for part in (self._budgets, self._drift, self._monitor, self._evals):
            try:
                out += part()
            except Exception as exc:  # a store that is down, or a table not made yet
                log.debug("metrics: %s skipped (%s)", part.__name__, type(exc).__name__)
        return out

    def _budgets(self) -> list[Sample]:
        # SQLAlchemy (the store): off the gateway process until this endpoint is called
        from llmgate.reports.budgets import budget_report

        settings = self.state.config.llmgate
        user_budget = settings.user_budget_usd
        lines = budget_report(
            self.state.engine,
            tz=settings.time_zone,
            user_budget=(user_budget, settings.user_budget_period) if user_budget is not None else None,
        )
        out = []
        for line in lines:
            if line.status != "active":
                continue
            labels = (line.scope, line.name, line.period)
            out.append(Sample("llmgate_budget_spend_usd", float(line.spend_usd), labels))
            out.append(Sample("llmgate_budget_limit_usd", float(line.budget_usd), labels))
            if line.budget_usd > Decimal(0):
                used = float(line.spend_usd / line.budget_usd)
                out.append(Sample("llmgate_budget_used_ratio", used, labels))
        return out

    def _drift(self) -> list[Sample]:
        # SQLAlchemy (the store): off the gateway process until this endpoint is called
        from llmgate.store.monitors import conditions, latest_stats

        out = []
        for stat in latest_stats(self.state.engine):
            labels = (stat["model"], stat["route"], stat["kind"], stat["statistic"])
            out.append(Sample("llmgate_drift_statistic", float(stat["value"]), labels))
            if stat.get("threshold") is not None:
                out.append(Sample("llmgate_drift_threshold", float(stat["threshold"]), labels))
            out.append(Sample("llmgate_drift_breached", 1.0 if stat["breached"] else 0.0, labels))
            if stat["kind"] == "rag":
                out += _retrieval_quality(stat)
        open_now = conditions(self.state.engine, active=True)
        out.append(Sample("llmgate_monitor_alerts_open", float(len(open_now))))
        return out

    def _monitor(self) -> list[Sample]:
        """The monitor worker's health, as it recorded it in the store (``monitors/health.py``)."""
        # SQLAlchemy (the store): off the gateway process until this endpoint is called
        from llmgate.monitors.health import health_summary

        health = health_summary(self.state.engine, self.state.config.llmgate.monitors, datetime.now(UTC))
        if health["last_pass_at"] is None:
            return []  # no worker has run a pass on this store
        success = health["last_success_at"]
        out = [
            Sample(
                "llmgate_monitor_last_success_timestamp",
                datetime.fromisoformat(success).timestamp() if success else 0.0,
            ),
            Sample("llmgate_monitor_failures_total", float(health["failures_total"])),
            Sample("llmgate_monitor_consecutive_failures", float(health["consecutive_failures"])),
        ]
        if health["lag_s"] is not None:
            out.append(Sample("llmgate_monitor_lag_seconds", float(health["lag_s"])))
        return out

    def _evals(self) -> list[Sample]:
        # SQLAlchemy (the store): off the gateway process until this endpoint is called
        from llmgate.store.evals import latest_runs

        out = []
        for run in latest_runs(self.state.engine):
            labels = (run["suite"], run["model"])
            cases = int(run.get("cases") or 0)
            if cases:
                out.append(Sample("llmgate_eval_pass_rate", int(run.get("passed") or 0) / cases, labels))
            out.append(Sample("llmgate_eval_cases", float(cases), labels))
            started = run["started_at"].timestamp()
            out.append(Sample("llmgate_eval_last_run_timestamp_seconds", started, labels))
        return out


def _retrieval_quality(stat: dict[str, Any]) -> list[Sample]:
    """A retrieval-quality statistic (a window mean) as its own gauge, with its threshold and the
    share of the window under it, labelled by model and route as the drift gauges are."""
    name = f"llmgate_rag_{stat['statistic']}"
    if name not in GAUGES:
        return []
    group = (stat["model"], stat["route"])
    out = [Sample(name, float(stat["value"]), group)]
    metric = (*group, stat["statistic"])
    if stat.get("threshold") is not None:
        out.append(Sample("llmgate_rag_threshold", float(stat["threshold"]), metric))
    below = stat["details"].get("share_below")
    if isinstance(below, int | float):
        out.append(Sample("llmgate_rag_below_threshold_ratio", float(below), metric))
    return out


def endpoint_for(state: AppState) -> MetricsEndpoint:
    existing: MetricsEndpoint | None = getattr(state, "metrics_endpoint", None)
    if existing is None:
        existing = state.metrics_endpoint = MetricsEndpoint(state)
    return existing


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Prometheus text format: traffic, tokens, cost, latency, circuits, the record queue, "
    "budgets, drift statistics and eval pass rates. Names: see the README's Observability section.",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}}},
)
async def metrics(request: Request) -> Response:
    state = app_state(request)
    require = state.config.llmgate.metrics_require_auth
    await check_operator(state.authenticator, require, request.headers, "GET /metrics")
    endpoint = endpoint_for(state)
    await endpoint.refresh()
    return Response(endpoint.exposition.render(), media_type=CONTENT_TYPE)
