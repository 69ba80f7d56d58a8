"""From an evaluation to alerts: store its statistics, open, hold and resolve conditions.

A condition (``drift.prompt``, ``drift.output``, ``rag_quality``) of one model and route opens
when an evaluation breaches it, and raises one alert through the configured sinks (the same
``telemetry/alerts.py`` the eval schedules use). While it holds, later breaches update it and
raise nothing (deduplication). It resolves after ``resolve_after`` clean evaluations in a row,
which raises one ``...resolved`` alert at severity info; a condition that flaps around its
threshold therefore does not page anyone twice.

Each opening alert carries its detection delay: the time from the first drifted record (for
prompt drift the first out-of-distribution prompt after the last clean evaluation; for the
others the first record after it) to the alert.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from llmgate.config.time_range import duration_text
from llmgate.monitors.delay import detection_delay_s
from llmgate.monitors.evaluate import CONDITIONS, GroupReport
from llmgate.store import monitors as queries
from llmgate.telemetry.alerts import Alert, Sink, raise_alert_sync

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Engine

log = logging.getLogger("llmgate.monitors")

__all__ = ["apply_report", "last_clean_times"]

_SOURCE = {"drift.prompt": "drift", "drift.output": "drift", "rag_quality": "rag_quality"}
_WHAT = {
    "drift.prompt": "prompts drifted",
    "drift.output": "outputs drifted",
    "rag_quality": "retrieval quality dropped",
}


def _state_name(model: str, route: str) -> str:
    # JSON, not a NUL separator: PostgreSQL text cannot hold NUL, and every evaluation that got
    # this far failed there (the monitor_state row was never written).
    return "clean:" + json.dumps([model, route], ensure_ascii=False)


def last_clean_times(engine: Engine, model: str, route: str) -> dict[str, datetime]:
    """Per condition, the newest record of the last evaluation that did not breach it."""
    saved = queries.load_state(engine, _state_name(model, route)) or {}
    return {name: datetime.fromisoformat(value) for name, value in saved.items()}


def apply_report(
    engine: Engine, report: GroupReport, *, sinks: Sequence[Sink], resolve_after: int, now: datetime
) -> list[Alert]:
    """Store ``report``'s statistics and move its conditions on; returns the alerts raised."""
    if report.status == "collecting":
        return []
    queries.insert_stats(
        engine,
        [
            {
                "at": report.at,
                "model": report.model,
                "route": report.route,
                "kind": stat["kind"],
                "statistic": stat["name"],
                "value": float(stat["value"]),
                "threshold": stat["threshold"],
                "p_value": stat["p_value"],
                "breached": bool(stat["breached"]),
                "reference_n": report.reference.get("n"),
                "current_n": report.current["n"],
                "details": stat["details"],
            }
            for stat in report.statistics
        ],
    )
    active = {
        c["condition"]: c
        for c in queries.conditions(engine, active=True)
        if c["model"] == report.model and c["route"] == report.route
    }
    clean = {k: v.isoformat() for k, v in last_clean_times(engine, report.model, report.route).items()}
    newest = report.current_rows[-1][1] if report.current_rows else now
    evaluated_kinds = {stat["kind"] for stat in report.statistics}
    raised: list[Alert] = []
    for condition, kind in CONDITIONS.items():
        if kind not in evaluated_kinds:
            continue  # e.g. too few RAG requests this window: neither breached nor clean
        names = report.breached.get(condition)
        holding = active.get(condition)
        if names:
            if holding is None:
                raised.append(_open(engine, report, condition, names, sinks, now))
            else:  # the latest statistics; what the alert said when it opened stays
                details = {**holding["details"], **_details(report, condition), "breached": names}
                queries.update_condition(engine, holding["id"], clean_streak=0, details=details)
        else:
            clean[condition] = newest.isoformat()
            if holding is not None:
                streak = int(holding["clean_streak"]) + 1
                if streak >= resolve_after:
                    raised.append(_resolve(engine, report, condition, holding, sinks, now))
                else:
                    queries.update_condition(engine, holding["id"], clean_streak=streak)
    queries.save_state(engine, _state_name(report.model, report.route), clean, now)
    return raised


def _details(report: GroupReport, condition: str) -> dict[str, Any]:
    kind = CONDITIONS[condition]
    details: dict[str, Any] = {
        "model": report.model,
        "route": report.route,
        "statistics": [
            {k: s[k] for k in ("name", "value", "threshold", "p_value", "breached")}
            for s in report.statistics
            if s["kind"] == kind
        ],
        "reference": report.reference,
        "current": report.current,
    }
    if condition == "drift.prompt" and report.clusters:
        details["grown_topics"] = [c for c in report.clusters[:3] if c["growth"] > 0]
    if condition == "rag_quality" and report.rag is not None:
        details["worst"] = report.rag.get("worst", [])[:5]
    return details


def _open(
    engine: Engine,
    report: GroupReport,
    condition: str,
    names: list[str],
    sinks: Sequence[Sink],
    now: datetime,
) -> Alert:
    first = report.first_drifted.get(condition) or {}
    started = datetime.fromisoformat(first["at"]) if "at" in first else now
    delay = detection_delay_s(started, now)
    details = _details(report, condition)
    details.update(
        breached=names,
        first_drifted_record=first.get("record_id"),
        first_drifted_at=started.isoformat(),
        detection_delay_s=delay,
    )
    alert = Alert(
        source=_SOURCE[condition],
        kind=condition,
        severity="warning",
        title=f"{report.model} ({report.route}): {_WHAT[condition]}: {', '.join(names)} "
        f"(detected after {duration_text(delay)})",
        details=details,
        at=now,
    )
    condition_id = queries.open_condition(
        engine,
        {
            "model": report.model,
            "route": report.route,
            "condition": condition,
            "active": True,
            "started_at": started,
            "raised_at": now,
            "clean_streak": 0,
            "details": details,
        },
    )
    alert.details["condition_id"] = condition_id
    alert_id = raise_alert_sync(alert, engine=engine, sinks=sinks)
    queries.update_condition(engine, condition_id, alert_id=alert_id)
    log.info(
        "monitor alert %s for %s %s (detection delay %s)",
        condition,
        report.model,
        report.route,
        duration_text(delay),
    )
    return alert


def _resolve(
    engine: Engine,
    report: GroupReport,
    condition: str,
    holding: dict[str, Any],
    sinks: Sequence[Sink],
    now: datetime,
) -> Alert:
    queries.update_condition(engine, holding["id"], active=False, resolved_at=now, clean_streak=0)
    lasted = (now - holding["raised_at"]).total_seconds()
    alert = Alert(
        source=_SOURCE[condition],
        kind=f"{condition}.resolved",
        severity="info",
        title=f"{report.model} ({report.route}): resolved: {_WHAT[condition]}",
        details={
            "model": report.model,
            "route": report.route,
            "condition_id": holding["id"],
            "alert_id": holding["alert_id"],
            "active_for_s": round(lasted, 3),
        },
        at=now,
    )
    raise_alert_sync(alert, engine=engine, sinks=sinks)
    return alert
