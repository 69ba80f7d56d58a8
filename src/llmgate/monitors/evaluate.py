"""One evaluation of one model and route: the reference and current windows, every statistic, and
what each condition (prompt drift, output drift, retrieval quality) says.

- Reference: the pinned baseline of the model and route (or of the model on every route,
  ``llmgate drift baseline set``), else the first ``reference_size`` sampled requests.
- Current: the samples of the last ``window`` (``1h``, ``24h``, or ``N`` requests), without those in
  the reference, at most the newest ``max_samples``.
- Statistics: embedding drift of the prompts (``drift.py``; alerted as ``drift.prompt``), of the
  answers (reported, not alerted: answers follow prompts), output drift (``output_drift.py``;
  ``drift.output``; its prompt-token statistic describes the prompts: it counts as prompt drift),
  the users' feedback on the windows' requests when its thresholds are set (``feedback_drift.py``;
  also ``drift.output``) and the window's retrieval quality (``rag_quality.py``; ``rag_quality``).

``evaluate_group`` only reads; ``conditions.py`` stores the statistics and raises alerts. Reports
(``llmgate drift report``, ``/admin/monitors/...``) call ``evaluate_group`` with their own window.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from llmgate.config.monitors import WindowSpec, parse_window
from llmgate.monitors.drift import DriftThresholds, EmbeddingDrift, Statistic, embedding_drift
from llmgate.monitors.feedback_drift import FeedbackWindow, feedback_drift, feedback_window
from llmgate.monitors.health import describe
from llmgate.monitors.output_drift import OutputSample, OutputThresholds, output_drift
from llmgate.monitors.rag_quality import RagScores, RagThresholds, summarise
from llmgate.store import monitors as queries
from llmgate.store.scores import feedback_rows

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmgate.config.monitors import MonitorSettings

__all__ = [
    "CONDITIONS",
    "GroupReport",
    "current_window",
    "evaluate_group",
    "reference_window",
    "thresholds_from",
]

#: The conditions that raise alerts, and the statistic kinds each is made of.
CONDITIONS = {"drift.prompt": "prompt", "drift.output": "output", "rag_quality": "rag"}


@dataclass
class GroupReport:
    """Everything one evaluation found for a model and route."""

    model: str
    route: str
    at: datetime
    status: str  # collecting | ok | drifted
    reference: dict[str, Any]
    current: dict[str, Any]
    statistics: list[dict[str, Any]] = field(default_factory=list)  # kind, name, value, threshold, ...
    clusters: list[dict[str, Any]] = field(default_factory=list)  # which topics grew or shrank
    rag: dict[str, Any] | None = None
    breached: dict[str, list[str]] = field(default_factory=dict)  # condition -> statistic names
    first_drifted: dict[str, dict[str, Any]] = field(default_factory=dict)  # condition -> record id, time
    current_rows: list[tuple[str, datetime]] = field(default_factory=list)  # (record id, time), oldest first
    errors: list[str] = field(default_factory=list)  # a part that failed (retrieval quality) and why

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(
            json.dumps(
                {
                    "model": self.model,
                    "route": self.route,
                    "at": self.at.isoformat(),
                    "status": self.status,
                    "reference": self.reference,
                    "current": self.current,
                    "statistics": self.statistics,
                    "clusters": self.clusters,
                    "rag": self.rag,
                    "breached": self.breached,
                    "first_drifted": self.first_drifted,
                },
                default=str,
            )
        )
        return result


def thresholds_from(settings: MonitorSettings) -> tuple[DriftThresholds, OutputThresholds, RagThresholds]:
    """The configured thresholds, each statistic's default where the config says nothing."""

    def given(model: Any) -> dict[str, Any]:
        return {k: v for k, v in model.model_dump().items() if v is not None}

    return (
        DriftThresholds.from_mapping(given(settings.drift.thresholds)),
        OutputThresholds.from_mapping(given(settings.drift.output)),
        RagThresholds.from_mapping(given(settings.rag.thresholds)),
    )


def evaluate_group(
    engine: Engine,
    settings: MonitorSettings,
    model: str,
    route: str,
    *,
    now: datetime,
    window: WindowSpec | None = None,
    last_clean: dict[str, datetime] | None = None,
) -> GroupReport:
    """Compare the current window of ``model`` on ``route`` with its reference (reads the store)."""
    drift = settings.drift
    spec = window or parse_window(drift.window)
    reference_rows, reference = _reference(engine, settings, model, route)
    rows, window_rows = current_window(
        engine, settings, model, route, reference_rows, reference, spec, now=now
    )
    current: dict[str, Any] = {"window": spec.text, "n": len(rows)}
    if rows:
        current.update(since=rows[0]["created_at"].isoformat(), until=rows[-1]["created_at"].isoformat())
    report = GroupReport(model, route, now, "collecting", reference, current)
    report.current_rows = [(row["record_id"], row["created_at"]) for row in rows]
    drift_t, output_t, rag_t = thresholds_from(settings)
    # Retrieval quality has absolute thresholds, no reference: every scored request of the window.
    try:
        _add_rag(report, settings, window_rows[-drift.max_samples :], rag_t)
    except Exception as exc:  # the retrieval scores must not hold back drift: reported, counted
        report.errors.append(f"retrieval quality of {model} {route}: {describe(exc)}")
    prompts: EmbeddingDrift | None = None
    if len(reference_rows) >= drift.min_samples and len(rows) >= drift.min_samples:
        seed = zlib.crc32(f"{model}\0{route}".encode())
        prompts = embedding_drift(
            _vectors(reference_rows, "prompt_vector"), _vectors(rows, "prompt_vector"), drift_t, seed=seed
        )
        _add(report, "prompt", prompts.statistics)
        report.clusters = _clusters(prompts, reference_rows, rows)
        ref_answers = [row for row in reference_rows if row.get("response_vector")]
        cur_answers = [row for row in rows if row.get("response_vector")]
        if len(ref_answers) >= drift.min_samples and len(cur_answers) >= drift.min_samples:
            answers = embedding_drift(
                _vectors(ref_answers, "response_vector"),
                _vectors(cur_answers, "response_vector"),
                drift_t,
                seed=seed,
            )
            _add(report, "response", answers.statistics)
        _add(report, "output", output_drift(_outputs(reference_rows), _outputs(rows), output_t))
        if output_t.feedback_rate is not None or output_t.feedback_score is not None:
            feedback = feedback_drift(_feedback(engine, reference_rows), _feedback(engine, rows), output_t)
            _add(report, "output", feedback)
    if not report.statistics:
        return report

    clean = last_clean or {}
    for condition, kind in CONDITIONS.items():
        names = [s["name"] for s in report.statistics if s["kind"] == kind and s["breached"]]
        if names:
            report.breached[condition] = names
            scope = rows if kind != "rag" else window_rows
            report.first_drifted[condition] = _first_drifted(condition, scope, prompts, clean.get(condition))
    report.status = "drifted" if report.breached else "ok"
    return report


# --- windows -------------------------------------------------------------------------------------


def reference_window(
    engine: Engine, settings: MonitorSettings, model: str, route: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The reference samples of ``model`` on ``route`` (with vectors) and what they are, exactly as
    an evaluation picks them (the dashboard's projection shows the same reference)."""
    return _reference(engine, settings, model, route)


def current_window(
    engine: Engine,
    settings: MonitorSettings,
    model: str,
    route: str,
    reference_rows: list[dict[str, Any]],
    reference: dict[str, Any],
    spec: WindowSpec,
    *,
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The current window's samples, as evaluations compare them with the reference (without the
    reference's own samples, after a default reference ends, at most ``max_samples``), and the
    whole window as it is (retrieval quality scores every request in it)."""
    reference_ids = {row["record_id"] for row in reference_rows}
    if spec.seconds is not None:
        rows = queries.window_samples(
            engine, model, route, since=now - timedelta(seconds=spec.seconds), until=now
        )
    else:
        rows = queries.window_samples(engine, model, route, last=(spec.requests or 0) + len(reference_ids))
    window_rows = rows[-spec.requests :] if spec.requests is not None else rows
    rows = [row for row in rows if row["record_id"] not in reference_ids]
    if reference["kind"] == "first" and reference_rows:
        end = reference_rows[-1]["created_at"]
        rows = [row for row in rows if row["created_at"] >= end]
    if spec.requests is not None:
        rows = rows[-spec.requests :]
    return rows[-settings.drift.max_samples :], window_rows


def _reference(
    engine: Engine, settings: MonitorSettings, model: str, route: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    pinned = {(b["model"], b["route"]): b for b in queries.baselines(engine)}
    baseline = pinned.get((model, route)) or pinned.get((model, "*"))
    if baseline is not None:
        rows = queries.window_samples(engine, model, route, since=baseline["since"], until=baseline["until"])
        rows = _spread(rows, settings.drift.max_samples)
        pinned_info: dict[str, Any] = {
            "kind": "baseline",
            "since": baseline["since"].isoformat(),
            "until": baseline["until"].isoformat(),
            "n": len(rows),
        }
        return rows, pinned_info
    rows = queries.window_samples(engine, model, route, first=settings.drift.reference_size)
    info: dict[str, Any] = {"kind": "first", "size": settings.drift.reference_size, "n": len(rows)}
    if rows:
        info.update(since=rows[0]["created_at"].isoformat(), until=rows[-1]["created_at"].isoformat())
    return rows, info


def _spread(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most ``limit`` rows, evenly spread over the window (a long baseline stays representative)."""
    if len(rows) <= limit:
        return rows
    picks = np.linspace(0, len(rows) - 1, limit).round().astype(int)
    return [rows[i] for i in sorted(set(picks.tolist()))]


def _vectors(rows: list[dict[str, Any]], column: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.stack([np.frombuffer(row[column], dtype=np.float32) for row in rows])


def _outputs(rows: list[dict[str, Any]]) -> list[OutputSample]:
    return [
        OutputSample(
            response_chars=row["response_chars"],
            refused=bool(row["refused"]),
            finish_reason=row["finish_reason"],
            tool_call=bool(row["tool_call"]),
            error=bool(row["error"]),
            latency_ms=row["latency_ms"],
            prompt_tokens=row["prompt_tokens"],
            completion_tokens=row["completion_tokens"],
        )
        for row in rows
    ]


def _feedback(engine: Engine, rows: Sequence[dict[str, Any]]) -> FeedbackWindow:
    """The users' feedback on the requests of ``rows`` (one window's samples, oldest first)."""
    ids = [row["record_id"] for row in rows]
    if not rows:
        return feedback_window(ids, [])
    times = [row["created_at"] for row in rows]
    until = max(times) + timedelta(microseconds=1)  # feedback_rows' until is exclusive
    return feedback_window(ids, feedback_rows(engine, min(times), until, model=rows[0]["model"]))


# --- statistics into the report -----------------------------------------------------------------


#: Output-drift statistics that describe the prompt, not the answer: they count as prompt drift.
_PROMPT_SIDE = frozenset({"prompt_tokens"})


def _add(report: GroupReport, kind: str, statistics: tuple[Statistic, ...]) -> None:
    for stat in statistics:
        report.statistics.append(
            {
                "kind": "prompt" if kind == "output" and stat.name in _PROMPT_SIDE else kind,
                "name": stat.name,
                "value": stat.value,
                "threshold": stat.threshold,
                "p_value": stat.p_value,
                "breached": stat.drifted,
                "details": stat.details,
            }
        )


def _clusters(
    drift: EmbeddingDrift, reference_rows: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    out = []
    for shift in drift.clusters:
        current = shift.current_representative
        out.append(
            {
                "cluster": shift.cluster,
                "reference_share": shift.reference_share,
                "current_share": shift.current_share,
                "growth": shift.current_share - shift.reference_share,
                "reference_example": reference_rows[shift.representative]["prompt_excerpt"],
                "current_example": rows[current]["prompt_excerpt"] if current is not None else None,
            }
        )
    return out


def _add_rag(
    report: GroupReport, settings: MonitorSettings, rows: list[dict[str, Any]], thresholds: RagThresholds
) -> None:
    if not settings.rag.enabled:
        return
    scored = []
    for row in rows:
        if row["groundedness"] is None:
            continue
        extra = json.loads(row["rag_json"] or "{}")
        scores = RagScores(
            context_relevance=row["context_relevance"],
            groundedness=row["groundedness"],
            answer_relevance=row["answer_relevance"],
            per_passage=tuple(extra.get("per_passage", ())),
            unsupported=tuple(extra.get("unsupported", ())),
        )
        scored.append((row["record_id"], scores))
    if len(scored) < settings.rag.min_samples:
        return
    summary = summarise(scored, thresholds=thresholds, worst_n=settings.rag.worst_n)
    report.rag = summary.to_json()
    metrics = report.rag.get("metrics", {})
    for name in ("context_relevance", "groundedness", "answer_relevance"):
        metric = metrics.get(name, {})
        mean = metric.get("mean")
        if mean is None:
            continue
        report.statistics.append(
            {
                "kind": "rag",
                "name": name,
                "value": mean,
                "threshold": metric.get("threshold"),
                "p_value": None,
                "breached": name in summary.breaches,
                "details": {k: v for k, v in metric.items() if k not in ("mean", "threshold")},
            }
        )


def _first_drifted(
    condition: str, rows: list[dict[str, Any]], prompts: EmbeddingDrift | None, last_clean: datetime | None
) -> dict[str, Any]:
    """The earliest record of the current window that shows the condition, after the last clean
    evaluation: for prompt drift the first out-of-distribution prompt; otherwise the first record."""
    indices = [i for i, row in enumerate(rows) if last_clean is None or row["created_at"] > last_clean]
    if not indices:
        indices = list(range(len(rows)))
    chosen = indices[0]
    if condition == "drift.prompt" and prompts is not None:
        flagged = [i for i in indices if i < len(prompts.ood) and prompts.ood[i]]
        if flagged:
            chosen = flagged[0]
    row = rows[chosen]
    return {"record_id": row["record_id"], "at": row["created_at"].isoformat()}
