"""Retrieval-quality gauges on ``GET /metrics``: a real gateway on loopback, its store holding the
statistics the monitor stored (through the store's own ``insert_stats``), scraped and parsed
with prometheus_client's parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from llmgate.store import monitors as queries
from llmgate.store.migrate import upgrade
from support.configs import MASTER_KEY
from support.gateway import RunningGateway

ROUTE = "chat/completions"


def _stat(at: datetime, model: str, kind: str, statistic: str, value: float, **extra: Any) -> dict[str, Any]:
    return {
        "at": at,
        "model": model,
        "route": ROUTE,
        "kind": kind,
        "statistic": statistic,
        "value": value,
        "threshold": extra.get("threshold"),
        "p_value": None,
        "breached": extra.get("breached", False),
        "reference_n": 40,
        "current_n": 60,
        "details": extra.get("details", {}),
    }


def _scrape(gateway: RunningGateway) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = gateway.get("/metrics")
    assert response.status_code == 200, response.text
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def test_retrieval_quality_gauges_per_model_and_route(gateway_factory: Any, tmp_path: Path) -> None:
    gateway = gateway_factory(
        {
            "model_list": [{"model_name": "support-bot", "litellm_params": {"model": "mock/echo"}}],
            "general_settings": {"master_key": MASTER_KEY},
            "llmgate": {"database_url": f"sqlite:///{tmp_path / 'store.db'}"},
        }
    )
    engine = gateway.state.engine
    upgrade(engine)
    now = datetime.now(UTC)
    for minutes, grounded in ((30, 0.9), (5, 0.41)):  # the newer evaluation is the one shown
        at = now - timedelta(minutes=minutes)
        queries.insert_stats(
            engine,
            [
                _stat(at, "support-bot", "prompt", "mmd", 0.01, threshold=0.01),
                _stat(
                    at,
                    "support-bot",
                    "rag",
                    "context_relevance",
                    0.8,
                    threshold=0.45,
                    details={"p10": 0.6, "share_below": 0.05},
                ),
                _stat(
                    at,
                    "support-bot",
                    "rag",
                    "groundedness",
                    grounded,
                    threshold=0.55,
                    breached=grounded < 0.55,
                    details={"p10": 0.1, "share_below": 0.6},
                ),
                _stat(
                    at,
                    "support-bot",
                    "rag",
                    "answer_relevance",
                    0.7,
                    threshold=0.5,
                    details={"p10": 0.5, "share_below": 0.1},
                ),
            ],
        )
    queries.insert_stats(engine, [_stat(now, "plain-bot", "prompt", "mmd", 0.02, threshold=0.01)])

    metrics = _scrape(gateway)
    group = {"model": "support-bot", "route": ROUTE}
    assert metrics["llmgate_rag_context_relevance"] == [(group, 0.8)]
    assert metrics["llmgate_rag_groundedness"] == [(group, 0.41)]
    assert metrics["llmgate_rag_answer_relevance"] == [(group, 0.7)]
    ratios = {labels["metric"]: value for labels, value in metrics["llmgate_rag_below_threshold_ratio"]}
    assert ratios == {"context_relevance": 0.05, "groundedness": 0.6, "answer_relevance": 0.1}
    thresholds = {labels["metric"]: value for labels, value in metrics["llmgate_rag_threshold"]}
    assert thresholds == {"context_relevance": 0.45, "groundedness": 0.55, "answer_relevance": 0.5}
    assert all(
        {k: v for k, v in labels.items() if k != "metric"} == group
        for labels, _ in metrics["llmgate_rag_threshold"]
    )
    # the same group labels as the drift gauges, which keep every statistic, retrieval included
    drift_groups = {(labels["model"], labels["route"]) for labels, _ in metrics["llmgate_drift_statistic"]}
    assert drift_groups == {("support-bot", ROUTE), ("plain-bot", ROUTE)}
    breached = {
        labels["statistic"]: v for labels, v in metrics["llmgate_drift_breached"] if labels["kind"] == "rag"
    }
    assert breached == {"context_relevance": 0.0, "groundedness": 1.0, "answer_relevance": 0.0}
