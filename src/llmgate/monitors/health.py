"""The monitor worker's own health: what each pass records, when it alerts, and what it looks like.

After every pass the worker records the outcome (``HealthTracker.record``) in the store
(``store/monitor_health.py``): a pass succeeds when every step of it did (sampling with its
retrieval-quality scores, each model's evaluation, housekeeping); otherwise it counts as failed,
with its errors as one line (store errors as the driver's message only, secrets redacted).
After ``llmgate.monitors.failure_alert_after`` failed passes in a row the worker raises one
``monitor.failing`` alert (critical), once per streak, through the same sinks as the drift
alerts; the first successful pass after it raises ``monitor.failing.resolved`` (info).

When the store itself cannot be reached the worker still counts in memory, so a long outage
reaches the webhooks even though it cannot be written down.

``health_summary`` is what ``llmgate drift status``, ``/metrics`` and readiness show:

- ``status``: ``ok``; ``failing`` (the last pass failed); ``stalled`` (no pass for
  ``stale_after_s``: the worker is not running, or is stuck); ``not started`` (no pass yet);
- ``last_success_at``, ``last_pass_at``, ``consecutive_failures``, ``failures_total``,
  ``last_error`` and ``last_failure_at``;
- ``lag_s``: now minus the time up to which records have been read (the worker's cursor), so a
  healthy worker lags by about ``settle_s`` plus ``interval_s`` and a stalled one by more and more.

Light on purpose (no numpy): readiness and ``/metrics`` import it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from llmgate.protocol.redact import redact_text
from llmgate.store.db import describe_error
from llmgate.store.monitor_health import load_health, update_health
from llmgate.store.monitors import load_state
from llmgate.telemetry.alerts import Alert, raise_alert_sync

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Engine

    from llmgate.config.monitors import MonitorSettings
    from llmgate.telemetry.alerts import Sink

log = logging.getLogger("llmgate.monitors")

__all__ = ["CURSOR_STATE", "FAILING", "HealthTracker", "describe", "health_summary", "stale_after_s"]

#: The ``monitor_state`` row with the worker's cursor: records up to its time have been read.
CURSOR_STATE = "cursor"
FAILING = "monitor.failing"
_ERROR_CHARS = 300


def describe(exc: BaseException) -> str:
    """One line about a failure, safe to store, log and alert: no SQL, parameters or secrets."""
    return redact_text(describe_error(exc))


def stale_after_s(settings: MonitorSettings) -> float:
    """How long without a pass before the worker counts as stalled (a pass may embed a backlog)."""
    return max(10 * settings.interval_s, 300.0)


class HealthTracker:
    """Records each pass of one worker; raises and resolves the ``monitor.failing`` alert."""

    def __init__(self, engine: Engine, settings: MonitorSettings, sinks: Sequence[Sink]) -> None:
        self.engine = engine
        self.alert_after = settings.failure_alert_after
        self.sinks = list(sinks)
        self._streak = 0  # failed passes in a row, counted here too for when the store is down
        self._alerted_here = False  # an alert raised while the store could not record it

    def record(self, errors: Sequence[str], now: datetime) -> list[Alert]:
        """Record one pass (``errors``: one line per failed step; none: it succeeded); returns
        the alerts raised."""
        failed_before = self._streak
        self._streak = self._streak + 1 if errors else 0
        error = "; ".join(errors)[:_ERROR_CHARS] if errors else None
        decision: dict[str, dict[str, Any]] = {}

        def change(current: dict[str, Any] | None) -> dict[str, Any]:
            h = dict(current or {})
            h["last_pass_at"] = now.isoformat()
            h["passes_total"] = int(h.get("passes_total", 0)) + 1
            h["alert_open"] = bool(h.get("alert_open")) or self._alerted_here
            if error is not None:
                h["failures_total"] = int(h.get("failures_total", 0)) + 1
                h["consecutive_failures"] = int(h.get("consecutive_failures", 0)) + 1
                h["last_failure_at"] = now.isoformat()
                h["last_error"] = error
                if h["consecutive_failures"] >= self.alert_after and not h["alert_open"]:
                    h["alert_open"] = True
                    decision["raise"] = dict(h)
            else:
                h.setdefault("failures_total", 0)
                if h["alert_open"]:  # the streak: the store's, or this worker's while it was down
                    streak = max(int(h.get("consecutive_failures", 0)), failed_before)
                    decision["resolve"] = {**h, "consecutive_failures": streak}
                h["consecutive_failures"] = 0
                h["alert_open"] = False
                h["last_success_at"] = now.isoformat()
            return h

        try:
            update_health(self.engine, change, now)
            self._alerted_here = False
        except Exception as exc:  # the store is down: count here, so the sinks still hear of it
            log.warning("could not record the monitor's health: %s", describe(exc))
            decision.clear()  # nothing was saved: decide on this worker's own count
            if error is None and self._alerted_here:
                decision["resolve"] = {"consecutive_failures": failed_before}
                self._alerted_here = False
            elif error is not None and self._streak >= self.alert_after and not self._alerted_here:
                decision["raise"] = {"consecutive_failures": self._streak, "last_error": error}
                self._alerted_here = True
        return [self._alert(kind, h, now) for kind, h in decision.items()]

    def _alert(self, kind: str, health: dict[str, Any], now: datetime) -> Alert:
        streak = int(health.get("consecutive_failures", 0))
        if kind == "raise":
            alert = Alert(
                source="monitor",
                kind=FAILING,
                severity="critical",
                title=f"monitor: {streak} passes in a row failed; drift and retrieval quality are not "
                f"being updated: {health.get('last_error')}",
                details={
                    "consecutive_failures": streak,
                    "failures_total": health.get("failures_total"),
                    "last_error": health.get("last_error"),
                    "last_success_at": health.get("last_success_at"),
                },
                at=now,
            )
        else:
            alert = Alert(
                source="monitor",
                kind=f"{FAILING}.resolved",
                severity="info",
                title=f"monitor: resolved: a pass succeeded after {streak} failed",
                details={"failed_passes": streak, "last_error": health.get("last_error")},
                at=now,
            )
        log.log(logging.WARNING if kind == "raise" else logging.INFO, "%s", alert.title)
        raise_alert_sync(alert, engine=self.engine, sinks=self.sinks)
        return alert


def health_summary(engine: Engine, settings: MonitorSettings, now: datetime) -> dict[str, Any]:
    """The worker's health as plain JSON (see the module docstring); reads the store."""
    health = load_health(engine) or {}
    cursor = load_state(engine, CURSOR_STATE)
    read_until = datetime.fromisoformat(cursor["at"]) if cursor else None
    last_pass = health.get("last_pass_at")
    success = health.get("last_success_at")
    consecutive = int(health.get("consecutive_failures", 0))
    if last_pass is None:
        status = "not started"
    elif (now - datetime.fromisoformat(last_pass)).total_seconds() > stale_after_s(settings):
        status = "stalled"
    elif consecutive:
        status = "failing"
    else:
        status = "ok"
    return {
        "status": status,
        "last_pass_at": last_pass,
        "last_success_at": success,
        "since_success_s": round((now - datetime.fromisoformat(success)).total_seconds(), 3)
        if success
        else None,
        "consecutive_failures": consecutive,
        "failures_total": int(health.get("failures_total", 0)),
        "last_error": health.get("last_error"),
        "last_failure_at": health.get("last_failure_at"),
        "alert_open": bool(health.get("alert_open")),
        "read_until": read_until.isoformat() if read_until else None,
        "lag_s": round(max(0.0, (now - read_until).total_seconds()), 3) if read_until else None,
        "failure_alert_after": settings.failure_alert_after,
    }
