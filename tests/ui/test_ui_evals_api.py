"""The dashboard's Evals data (``/ui/api/evals/...``) over real HTTP, on runs stored through the
store's own functions: runs per suite and model, pass rates over time, a regression against the
baseline, and the flipped cases side by side."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmgate.store import evals as store
from llmgate.store.migrate import upgrade
from support.eval_runs import CASES, store_run
from support.gateway import RunningGateway
from support.keys import add_key

MASTER = "sk-evals-master-0123"
AUTH = {"Authorization": f"Bearer {MASTER}"}
BROKEN = 8  # cases the third run gets wrong


def config(tmp_path: Path) -> dict[str, Any]:
    return {
        "model_list": [{"model_name": "mock-a", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER},
        "llmgate": {"database_url": f"sqlite:///{tmp_path / 'store.db'}", "recorder": {"process": False}},
    }


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("evals")
    gateway = RunningGateway(config(base), base).start()
    try:
        engine = gateway.state.engine
        upgrade(engine)
        store_run(engine, "run-1-baseline", "factual_qa", "mock-a", days_ago=3)
        store.set_baseline(engine, "factual_qa", "mock-a", "run-1-baseline")
        store_run(engine, "run-2-same", "factual_qa", "mock-a", days_ago=2)
        store_run(engine, "run-3-worse", "factual_qa", "mock-a", days_ago=1, failing=BROKEN)
        store_run(engine, "run-4-other", "tone", "mock-b", days_ago=0.5, failing=1)
        store_run(engine, "run-0-old", "factual_qa", "mock-a", days_ago=40)
        admin_key, _ = add_key(engine, "ops", admin=True)
        plain_key, _ = add_key(engine, "app")
        gateway.admin_key, gateway.plain_key = admin_key, plain_key
        yield gateway
    finally:
        gateway.stop()


def get(gw: RunningGateway, path: str) -> Any:
    response = httpx.get(gw.url + path, headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_runs_per_suite_and_model_with_regressions(gw: RunningGateway) -> None:
    data = get(gw, "/ui/api/evals/runs?since=7d")
    runs = {r["id"]: r for r in data["runs"]}
    assert [r["id"] for r in data["runs"]] == ["run-4-other", "run-3-worse", "run-2-same", "run-1-baseline"]
    worse = runs["run-3-worse"]
    assert worse["regression"] is True and worse["compared_with"] == {
        "run_id": "run-1-baseline",
        "kind": "baseline",
    }
    assert (worse["flipped_to_fail"], worse["flipped_to_pass"]) == (BROKEN, 0)
    assert worse["pass_rate"] == pytest.approx(1 - BROKEN / CASES) and worse["effect"] == pytest.approx(-0.4)
    assert worse["p_value"] < 0.05 and worse["status"] == "failed" and worse["duration_s"] == 42
    assert (worse["cases"], worse["passed"], worse["failed"]) == (CASES, CASES - BROKEN, BROKEN)
    same = runs["run-2-same"]
    assert same["regression"] is False and same["compared_with"]["kind"] == "baseline"
    baseline = runs["run-1-baseline"]
    assert baseline["is_baseline"] is True
    assert baseline["compared_with"] == {"run_id": "run-0-old", "kind": "previous"}  # older than the range
    assert runs["run-4-other"]["compared_with"] is None  # its first run: nothing to compare with

    series = {(s["suite"], s["model"]): s["points"] for s in data["series"]}
    assert set(series) == {("factual_qa", "mock-a"), ("tone", "mock-b")}
    points = series[("factual_qa", "mock-a")]
    assert [p["run_id"] for p in points] == ["run-1-baseline", "run-2-same", "run-3-worse"]
    assert [p["pass_rate"] for p in points] == pytest.approx([1.0, 1.0, 0.6])
    assert [p["regression"] for p in points] == [False, False, True]

    only = get(gw, "/ui/api/evals/runs?since=7d&suite=tone")
    assert [r["id"] for r in only["runs"]] == ["run-4-other"]
    assert len(get(gw, "/ui/api/evals/runs?since=90d")["runs"]) == 5


def test_flipped_cases_side_by_side(gw: RunningGateway) -> None:
    data = get(gw, "/ui/api/evals/compare?current=run-3-worse")
    assert data["baseline"]["id"] == "run-1-baseline" and data["baseline"]["kind"] == "baseline"
    assert data["current"]["id"] == "run-3-worse"
    verdict = data["comparison"]
    assert verdict["regression"] is True and verdict["method"] == "mcnemar" and verdict["compared"] == CASES
    assert (verdict["baseline_pass_rate"], verdict["current_pass_rate"]) == (1.0, 0.6)
    flips = data["flips"]
    assert [f["id"] for f in flips] == [f"case-{i:02}" for i in range(BROKEN)]
    first = flips[0]
    assert first["direction"] == "to_fail" and first["input"] == {"question": "Capital of France? (0)"}
    assert first["baseline"]["output"] == "Paris" and first["baseline"]["status"] == "passed"
    assert (
        first["current"]["output"] == "<script>alert(1)</script> Lyon"
        and first["current"]["status"] == "failed"
    )
    assert first["baseline"]["assertions"] == [
        {"type": "contains", "score": 1.0, "pass": True, "weight": 1.0}
    ]
    assert first["current"]["assertions"][0]["pass"] is False
    assert first["current"]["assertions"][0]["reason"] == "no 'Paris'"

    chosen = get(gw, "/ui/api/evals/compare?current=run-3-worse&baseline=run-2-same")
    assert chosen["baseline"]["kind"] == "chosen" and len(chosen["flips"]) == BROKEN
    back = get(gw, "/ui/api/evals/compare?current=run-2-same&baseline=run-3-worse")
    assert {f["direction"] for f in back["flips"]} == {"to_pass"} and back["comparison"][
        "regression"
    ] is False
    alone = get(gw, "/ui/api/evals/compare?current=run-4-other")
    assert alone["baseline"] is None and alone["flips"] == []

    missing = httpx.get(gw.url + "/ui/api/evals/compare?current=nope", headers=AUTH, timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_no_runs_is_an_empty_answer(gateway_factory: Callable[..., RunningGateway], tmp_path: Path) -> None:
    empty = gateway_factory(config(tmp_path))
    data = get(empty, "/ui/api/evals/runs?since=30d")
    assert data["runs"] == [] and data["series"] == []


@pytest.mark.parametrize("path", ["/runs", "/compare?current=run-3-worse"])
def test_only_admins_get_the_data(gw: Any, path: str) -> None:
    url = gw.url + "/ui/api/evals" + path
    for headers in ({}, {"Authorization": f"Bearer {gw.plain_key}"}, {"Authorization": "Bearer sk-wrong"}):
        response = httpx.get(url, headers=headers, timeout=30)
        assert response.status_code == 401, response.text
        assert "Lyon" not in response.text and "run-3" not in response.text
    assert httpx.get(url, headers={"Authorization": f"Bearer {gw.admin_key}"}, timeout=60).status_code == 200
