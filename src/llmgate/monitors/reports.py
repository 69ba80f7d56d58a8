"""What the monitors show: status, drift reports and retrieval-quality reports, as plain JSON.

The CLI (``llmgate drift status|report``, ``llmgate quality report``) and the admin API
(``/admin/monitors/...``) call these, so both always say the same. ``drift_report`` evaluates
afresh from the stored samples (with any window the caller asks for) and stores nothing;
``drift_status`` reads what the worker last stored, with the worker's own health (``health.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from llmgate.config.monitors import parse_window
from llmgate.monitors.delay import detection_delay_s
from llmgate.monitors.health import health_summary
from llmgate.monitors.rag_quality import RagScores, summarise
from llmgate.store import monitors as queries
from llmgate.store.feedback_ratings import RATINGS, request_ratings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmgate.config.monitors import MonitorSettings

__all__ = ["attention_first", "drift_report", "drift_status", "plain_json", "quality_report"]


def drift_status(engine: Engine, settings: MonitorSettings, *, now: datetime | None = None) -> dict[str, Any]:
    """Per model and route: samples, the last evaluation's breaches, open conditions; and the
    worker's health (``monitor``: last success, failures, lag)."""
    latest = queries.latest_stats(engine)
    open_conditions = queries.conditions(engine, active=True)
    groups = []
    for model, route, samples, newest in queries.sample_groups(engine):
        stats = [s for s in latest if s["model"] == model and s["route"] == route]
        held = [c for c in open_conditions if c["model"] == model and c["route"] == route]
        evaluated = max((s["at"] for s in stats), default=None)
        breached = sorted({f"{s['kind']}.{s['statistic']}" for s in stats if s["breached"]})
        if held:
            status = "alerting"
        elif not stats:
            status = "collecting"
        else:
            status = "drifted" if breached else "ok"
        groups.append(
            {
                "model": model,
                "route": route,
                "status": status,
                "samples": samples,
                "newest_sample": newest,
                "evaluated_at": evaluated,
                "breached": breached,
                "open_conditions": [
                    {
                        "condition": c["condition"],
                        "since": c["started_at"],
                        "raised_at": c["raised_at"],
                        "alert_id": c["alert_id"],
                        "detection_delay_s": detection_delay_s(c["started_at"], c["raised_at"]),
                    }
                    for c in held
                ],
            }
        )
    monitor = health_summary(engine, settings, now or datetime.now(UTC))
    return plain_json({"groups": groups, "baselines": queries.baselines(engine), "monitor": monitor})


#: How urgently a group's status asks to be looked at: lower first.
_URGENCY = {"alerting": 0, "drifted": 1}


def attention_first(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``drift_status`` groups with the alerting ones first, then the drifted ones, then the rest,
    each by model and route (the dashboard opens on the first)."""
    return sorted(groups, key=lambda g: (_URGENCY.get(g["status"], 2), g["model"], g["route"]))


def drift_report(
    engine: Engine,
    settings: MonitorSettings,
    *,
    now: datetime,
    model: str | None = None,
    route: str | None = None,
    window: str | None = None,
) -> dict[str, Any]:
    """Evaluate every model and route (or the ones asked for) now, over ``window`` (default: the
    configured one); every statistic with its threshold, the clusters that grew, output drift,
    retrieval quality."""
    # numpy (monitors.evaluate): only for a report evaluated now, off reading the drift status
    from llmgate.monitors.evaluate import evaluate_group

    spec = parse_window(window) if window is not None else None
    reports = []
    for group_model, group_route, _, _ in queries.sample_groups(engine):
        if (model is not None and group_model != model) or (route is not None and group_route != route):
            continue
        report = evaluate_group(engine, settings, group_model, group_route, now=now, window=spec)
        reports.append(report.to_json())
    return {"at": now.isoformat(), "window": window or settings.drift.window, "groups": reports}


def quality_report(
    engine: Engine,
    settings: MonitorSettings,
    *,
    now: datetime,
    model: str | None = None,
    window: str | None = None,
    by_feedback: bool = False,
) -> dict[str, Any]:
    """Retrieval quality per model over the window (a time span, or the last N scored requests):
    means, low tails, shares under the thresholds, and the worst requests. ``by_feedback``: per
    model, route and users' rating of the requests (``feedback``: ``good``, ``bad``, ``unrated``,
    as ``store/feedback_ratings.py`` rules; a rating with no scored request has no group)."""
    # numpy (monitors.evaluate): only for a report evaluated now, off reading the drift status
    from llmgate.monitors.evaluate import thresholds_from

    spec = parse_window(window or settings.drift.window)
    since = now - timedelta(seconds=spec.seconds) if spec.seconds is not None else None
    rows = queries.rag_samples(engine, model=model, since=since, limit=spec.requests or 100_000)
    _, _, thresholds = thresholds_from(settings)
    ratings = request_ratings(engine, (row["record_id"] for row in rows)) if by_feedback else {}
    by_model: dict[tuple[str, str, int], list[tuple[str, RagScores]]] = {}
    excerpts: dict[str, str | None] = {}
    for row in rows:
        extra = json.loads(row["rag_json"] or "{}")
        scores = RagScores(
            context_relevance=row["context_relevance"],
            groundedness=row["groundedness"],
            answer_relevance=row["answer_relevance"],
            per_passage=tuple(extra.get("per_passage", ())),
            unsupported=tuple(extra.get("unsupported", ())),
        )
        rating = RATINGS.index(ratings[row["record_id"]]) if by_feedback else -1
        by_model.setdefault((row["model"], row["route"], rating), []).append((row["record_id"], scores))
        excerpts[row["record_id"]] = row["prompt_excerpt"]
    groups = []
    for (group_model, group_route, rating), scored in sorted(by_model.items()):
        summary = summarise(scored, thresholds=thresholds, worst_n=settings.rag.worst_n).to_json()
        for worst in summary.get("worst", []):
            worst["question"] = excerpts.get(worst.get("record_id", ""))
        split = {"feedback": RATINGS[rating]} if by_feedback else {}
        groups.append({"model": group_model, "route": group_route, **split, **summary})
    report = {"at": now.isoformat(), "window": spec.text, "by_feedback": by_feedback, "groups": groups}
    return plain_json(report)


def plain_json(value: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(value, default=_default))
    return result


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
