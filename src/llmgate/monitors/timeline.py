"""Drift and retrieval quality over time, as chart series with their thresholds (the dashboard).

Each series is one statistic of one model and route, from the statistics the worker stored
(``store/monitor_history.py``, downsampled for long ranges). A statistic is plotted on the number
its decision compares with its threshold, so the threshold line means what it says:

- ``mmd``: its permutation p-value, drifted *below* ``mmd_p_value``;
- ``centroid_shift`` and ``psi``: the excess over the permutation null, drifted *above* the threshold
  (when the test is also significant);
- retrieval quality (``rag``): the window mean, too low *below* its threshold;
- every other statistic: its value (an AUC, a rate, an effect size), drifted *above* its threshold.

``threshold`` is the configured one now; each point keeps the one it was evaluated with.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from llmgate.monitors.evaluate import thresholds_from
from llmgate.store import monitor_history
from llmgate.store import monitors as queries

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmgate.config.monitors import MonitorSettings

__all__ = ["DRIFT_KINDS", "drift_timeline", "series_of"]

DRIFT_KINDS = ("prompt", "response", "output")
_EXCESS = frozenset({"centroid_shift", "psi"})
_DRIFT_FIELDS = {
    "centroid_shift": "centroid_shift",
    "mmd": "mmd_p_value",
    "psi": "psi",
    "domain_classifier": "domain_auc",
    "ood_rate": "ood_rate",
}
_LABELS = {
    "centroid_shift": "centroid shift (excess over null)",
    "mmd": "MMD p-value",
    "psi": "PSI over topics (excess over null)",
    "domain_classifier": "domain classifier AUC",
    "ood_rate": "out-of-distribution rate",
}


def measure(kind: str, statistic: str) -> tuple[str, str]:
    """(which number is plotted: value | p_value | excess, direction: above | below)."""
    if kind == "rag":
        return "value", "below"
    if statistic == "mmd":
        return "p_value", "below"
    if statistic in _EXCESS and kind in ("prompt", "response"):
        return "excess", "above"
    return "value", "above"


def configured_threshold(settings: MonitorSettings, kind: str, statistic: str) -> float | None:
    """The threshold the config gives ``statistic`` now (its default where it says nothing)."""

    drift, output, rag = thresholds_from(settings)
    if kind == "rag":
        return rag.of(statistic) if hasattr(rag, statistic) else None
    if kind in ("prompt", "response") and statistic in _DRIFT_FIELDS:
        return float(getattr(drift, _DRIFT_FIELDS[statistic]))
    try:
        return output.minimum(statistic)
    except AttributeError:
        return None


def _plotted(row: dict[str, Any], how: str) -> float | None:
    if how == "p_value":
        p_value: float | None = row["p_value"]
        return p_value
    if how == "excess":
        excess = row["details"].get("excess")
        return float(excess) if isinstance(excess, int | float) else row["value"]
    value: float | None = row["value"]
    return value


def series_of(rows: Sequence[dict[str, Any]], settings: MonitorSettings) -> list[dict[str, Any]]:
    """Stored statistics (oldest first) as one series per model, route, kind and statistic."""
    grouped: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["model"], row["route"], row["kind"], row["statistic"]), []).append(row)
    series = []
    for (model, route, kind, statistic), points in sorted(grouped.items()):
        how, direction = measure(kind, statistic)
        threshold = configured_threshold(settings, kind, statistic)
        last = points[-1]
        significance = last["details"].get("significance")
        series.append(
            {
                "model": model,
                "route": route,
                "kind": kind,
                "statistic": statistic,
                "label": _LABELS.get(statistic, statistic.replace("_", " ")),
                "measure": how,
                "direction": direction,
                "threshold": threshold if threshold is not None else last["threshold"],
                "significance": significance if isinstance(significance, int | float) else None,
                "breached_now": bool(last["breached"]),
                "breaches": sum(bool(p["breached"]) for p in points),
                "points": [
                    {
                        "at": p["at"].isoformat(),
                        "value": _plotted(p, how),
                        "raw": p["value"],
                        "p_value": p["p_value"],
                        "threshold": p["threshold"],
                        "breached": bool(p["breached"]),
                        "current_n": p["current_n"],
                    }
                    for p in points
                ],
            }
        )
    return series


def drift_timeline(
    engine: Engine,
    settings: MonitorSettings,
    *,
    since: datetime,
    until: datetime,
    model: str | None = None,
    route: str | None = None,
    kinds: Sequence[str] = DRIFT_KINDS,
    max_evaluations: int = 400,
) -> dict[str, Any]:
    """The series of ``kinds`` in [since, until), and the conditions open or raised in that range."""
    rows, downsampled = monitor_history.stats_between(
        engine,
        since=since,
        until=until,
        model=model,
        route=route,
        kinds=kinds,
        max_evaluations=max_evaluations,
    )
    conditions = [
        {
            "model": c["model"],
            "route": c["route"],
            "condition": c["condition"],
            "active": bool(c["active"]),
            "started_at": c["started_at"].isoformat(),
            "raised_at": c["raised_at"].isoformat(),
            "resolved_at": c["resolved_at"].isoformat() if c["resolved_at"] else None,
            "alert_id": c["alert_id"],
            "breached": c["details"].get("breached", []),
            "first_record_id": c["details"].get("first_drifted_record"),
        }
        for c in queries.conditions(engine, limit=200)
        if (model is None or c["model"] == model)
        and (route is None or c["route"] == route)
        and c["raised_at"] < until
        and (c["active"] or c["resolved_at"] is None or c["resolved_at"] >= since)
    ]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "downsampled": downsampled,
        "series": series_of(rows, settings),
        "conditions": conditions,
    }
