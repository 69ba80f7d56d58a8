"""The dashboard's Monitors data (``/ui/api/monitors/...``) over real HTTP, on monitor data written
through the store's own functions: drift series with thresholds, open conditions, the 2-D
projection of reference against current prompts, retrieval quality and its worst requests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from llmgate.store import monitors as queries
from llmgate.store.migrate import upgrade
from support.gateway import RunningGateway
from support.keys import add_key

MASTER = "sk-monitors-master-0123"
AUTH = {"Authorization": f"Bearer {MASTER}"}
DIM = 16
ROUTE = "chat/completions"


def config(tmp_path: Path) -> dict[str, Any]:
    return {
        "model_list": [{"model_name": "drifty", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER},
        "llmgate": {
            "database_url": f"sqlite:///{tmp_path / 'store.db'}",
            "recorder": {"process": False},
            "monitors": {"drift": {"window": "1h", "reference_size": 40, "min_samples": 10}},
        },
    }


def _unit(rng: np.random.Generator, centre: np.ndarray[Any, Any]) -> bytes:
    vector = centre + rng.normal(0.0, 0.15, DIM)
    return (vector / np.linalg.norm(vector)).astype(np.float32).tobytes()


def _sample(record_id: str, model: str, at: datetime, vector: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "created_at": at,
        "sampled_at": at,
        "model": model,
        "route": ROUTE,
        "embedder": "test",
        "dim": DIM,
        "prompt_vector": vector,
        "prompt_excerpt": f"<b>prompt</b> {record_id}",
        **extra,
    }


def _stat(at: datetime, model: str, kind: str, statistic: str, value: float, **extra: Any) -> dict[str, Any]:
    return {
        "at": at,
        "model": model,
        "route": ROUTE,
        "kind": kind,
        "statistic": statistic,
        "value": value,
        "threshold": extra.pop("threshold", None),
        "p_value": extra.pop("p_value", None),
        "breached": extra.pop("breached", False),
        "reference_n": 40,
        "current_n": 60,
        "details": extra.pop("details", {}),
    }


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("monitors")
    gateway = RunningGateway(config(base), base).start()
    try:
        engine = gateway.state.engine
        upgrade(engine)
        now = datetime.now(UTC)
        rng = np.random.default_rng(7)
        # Two topics; the reference has both, half and half. "drifty" now gets only the second
        # (its mix moved), "steady" still gets both.
        topics = [np.eye(DIM)[0], np.eye(DIM)[1]]
        away = topics[1]
        samples = []
        for model, current_topics in (("drifty", [topics[1]]), ("steady", topics)):
            for i in range(40):  # the reference: the first 40 samples, three hours ago
                at = now - timedelta(hours=3) + timedelta(seconds=i)
                samples.append(_sample(f"{model}-ref-{i:03}", model, at, _unit(rng, topics[i % 2])))
            for i in range(60):  # the current window: the last half hour
                at = now - timedelta(minutes=30) + timedelta(seconds=i)
                centre = current_topics[i % len(current_topics)]
                samples.append(_sample(f"{model}-cur-{i:03}", model, at, _unit(rng, centre)))
        queries.insert_samples(engine, samples)
        scored = []  # one insert per shape of row (executemany takes the first row's columns)
        for i, grounded in enumerate([0.9, 0.1, 0.7, 0.3, 0.8]):
            at = now - timedelta(minutes=20) + timedelta(seconds=i)
            scores = {"context_relevance": 0.8, "groundedness": grounded, "answer_relevance": 0.7}
            scored.append(_sample(f"rag{i:029}", "drifty", at, _unit(rng, away), **scores))
        queries.insert_samples(engine, scored)
        for minutes, p, auc, excess, breached in (
            (50, 0.4, 0.52, 0.001, False),
            (30, 0.003, 0.8, 0.05, True),
        ):
            at = now - timedelta(minutes=minutes)
            queries.insert_stats(
                engine,
                [
                    _stat(at, "drifty", "prompt", "mmd", 0.02, p_value=p, threshold=0.01, breached=breached),
                    _stat(
                        at, "drifty", "prompt", "domain_classifier", auc, threshold=0.55, breached=breached
                    ),
                    _stat(
                        at,
                        "drifty",
                        "prompt",
                        "centroid_shift",
                        0.3,
                        threshold=0.02,
                        details={"excess": excess, "significance": 0.01},
                    ),
                    _stat(at, "drifty", "rag", "groundedness", 0.56, threshold=0.55),
                ],
            )
        queries.insert_stats(
            engine, [_stat(now - timedelta(days=3), "drifty", "prompt", "mmd", 0.0, p_value=0.9)]
        )
        queries.open_condition(
            engine,
            {
                "model": "drifty",
                "route": ROUTE,
                "condition": "drift.prompt",
                "active": True,
                "started_at": now - timedelta(minutes=30),
                "raised_at": now - timedelta(minutes=29),
                "clean_streak": 0,
                "details": {
                    "breached": ["mmd", "domain_classifier"],
                    "first_drifted_record": "drifty-cur-000",
                },
            },
        )
        admin_key, _ = add_key(engine, "ops", admin=True)
        plain_key, _ = add_key(engine, "app")
        gateway.admin_key, gateway.plain_key = admin_key, plain_key
        yield gateway
    finally:
        gateway.stop()


def get(gw: RunningGateway, path: str, headers: dict[str, str] | None = None) -> Any:
    response = httpx.get(gw.url + path, headers=AUTH if headers is None else headers, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def series(data: dict[str, Any], model: str, statistic: str) -> dict[str, Any]:
    (found,) = [s for s in data["series"] if s["model"] == model and s["statistic"] == statistic]
    return found


def test_drift_over_time_with_thresholds_and_open_conditions(gw: RunningGateway) -> None:
    data = get(gw, "/ui/api/monitors/drift?since=24h")
    assert data["settings"]["window"] == "1h" and data["settings"]["enabled"] is False
    assert {(s["model"], s["kind"], s["statistic"]) for s in data["series"]} == {
        ("drifty", "prompt", "mmd"),
        ("drifty", "prompt", "domain_classifier"),
        ("drifty", "prompt", "centroid_shift"),
    }  # retrieval quality has its own chart; three days ago is out of range
    mmd = series(data, "drifty", "mmd")
    assert (mmd["measure"], mmd["direction"], mmd["threshold"]) == ("p_value", "below", 0.01)
    assert [p["value"] for p in mmd["points"]] == [0.4, 0.003]
    assert [p["breached"] for p in mmd["points"]] == [False, True] and mmd["breached_now"] is True
    auc = series(data, "drifty", "domain_classifier")
    assert (auc["direction"], auc["threshold"], [p["value"] for p in auc["points"]]) == (
        "above",
        0.55,
        [0.52, 0.8],
    )
    shift = series(data, "drifty", "centroid_shift")
    assert shift["measure"] == "excess" and [p["value"] for p in shift["points"]] == [0.001, 0.05]
    assert shift["significance"] == 0.01 and shift["points"][0]["raw"] == 0.3
    assert mmd["points"][0]["at"] < mmd["points"][1]["at"]

    (condition,) = data["conditions"]
    assert condition["active"] and condition["condition"] == "drift.prompt"
    assert condition["first_record_id"] == "drifty-cur-000" and condition["breached"] == [
        "mmd",
        "domain_classifier",
    ]
    groups = {g["model"]: g for g in data["groups"]}
    assert groups["drifty"]["status"] == "alerting" and groups["steady"]["status"] == "collecting"
    assert groups["drifty"]["samples"] == 105

    assert len(get(gw, "/ui/api/monitors/drift?since=7d")["series"][0]["points"]) >= 2
    assert get(gw, "/ui/api/monitors/drift?since=24h&model=steady")["series"] == []


def test_projection_separates_reference_and_current_when_they_differ(gw: RunningGateway) -> None:
    drifted = get(gw, f"/ui/api/monitors/projection?model=drifty&route={ROUTE}")
    assert {(g["model"], g["route"]) for g in drifted["groups"]} == {("drifty", ROUTE), ("steady", ROUTE)}
    picture = drifted["projection"]
    assert picture["reference_kind"] == "first" and picture["window"] == "1h"
    assert picture["reference"]["n"] == 40 and len(picture["reference"]["points"]) == 40
    assert picture["current"]["n"] == 65 and len(picture["current"]["points"]) == 65
    assert all(len(point) == 2 for point in picture["reference"]["points"] + picture["current"]["points"])
    assert picture["reference"]["ids"][0] == "drifty-ref-000"
    assert (
        picture["reference"]["excerpts"][0] == "<b>prompt</b> drifty-ref-000"
    )  # as stored: the page escapes
    assert len(picture["explained_variance"]) == 2 and picture["explained_variance"][0] > 0

    steady = get(gw, f"/ui/api/monitors/projection?model=steady&route={ROUTE}")["projection"]
    assert steady["current"]["n"] == 60
    assert picture["fit"] == "reference" and steady["separation"] < 0.3 < 0.8 < picture["separation"]
    pooled = get(gw, f"/ui/api/monitors/projection?model=drifty&route={ROUTE}&fit=pooled")["projection"]
    assert pooled["fit"] == "pooled" and pooled["separation"] > 0.8

    bounded = get(gw, f"/ui/api/monitors/projection?model=drifty&route={ROUTE}&limit=10")["projection"]
    assert len(bounded["reference"]["points"]) == 10 and len(bounded["current"]["points"]) == 10
    first = get(gw, "/ui/api/monitors/projection")["projection"]
    assert first["model"] == "drifty"  # no group asked for: the first one
    response = httpx.get(gw.url + "/ui/api/monitors/projection?window=soon", headers=AUTH, timeout=30)
    assert response.status_code == 400 and response.json()["error"]["param"] == "window"


def test_retrieval_quality_over_time_and_the_worst_requests(gw: RunningGateway) -> None:
    data = get(gw, "/ui/api/monitors/quality?since=24h")
    (grounded,) = data["series"]
    assert (grounded["statistic"], grounded["direction"], grounded["threshold"]) == (
        "groundedness",
        "below",
        0.55,
    )
    assert [p["value"] for p in grounded["points"]] == [0.56, 0.56]
    (group,) = data["report"]["groups"]
    assert group["model"] == "drifty" and group["n"] == 5
    assert group["metrics"]["groundedness"]["mean"] == pytest.approx(0.56)
    worst = group["worst"]
    assert worst[0]["record_id"] == "rag00000000000000000000000000001"  # groundedness 0.1
    assert worst[0]["url"] == "/ui/requests/rag00000000000000000000000000001"
    assert worst[0]["question"].startswith("<b>prompt</b>")


def test_no_data_is_an_empty_answer(gateway_factory: Callable[..., RunningGateway], tmp_path: Path) -> None:
    empty = gateway_factory(config(tmp_path))
    assert get(empty, "/ui/api/monitors/drift")["series"] == []
    assert get(empty, "/ui/api/monitors/projection") == {"groups": [], "projection": None}
    assert get(empty, "/ui/api/monitors/quality")["report"]["groups"] == []


@pytest.mark.parametrize("path", ["/drift", "/projection", "/quality"])
def test_only_admins_get_the_data(gw: Any, path: str) -> None:
    url = gw.url + "/ui/api/monitors" + path
    for headers in ({}, {"Authorization": f"Bearer {gw.plain_key}"}, {"Authorization": "Bearer sk-wrong"}):
        response = httpx.get(url, headers=headers, timeout=30)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "login_required"
        assert "drifty" not in response.text
    assert httpx.get(url, headers={"Authorization": f"Bearer {gw.admin_key}"}, timeout=60).status_code == 200
