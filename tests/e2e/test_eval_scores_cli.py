"""``llmgate eval run --config ...`` end to end: the in-process gateway records each case's answer in
the SQLite store, and the stored run writes every assertion's score on that recorded request (source
``eval:<run id>``), where ``request_scores`` (the request page, ``/admin/requests/{id}/scores``)
shows it beside the users' feedback; the eval's scores are not users' feedback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.store.db import create_engine_for
from llmgate.store.evals import ensure_schema
from llmgate.store.feedback_ratings import request_ratings
from llmgate.store.records import list_records
from llmgate.store.scores import feedback_rows, put_score, request_scores

ANSWER = "Paris is the capital of France."


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LLMGATE_CONFIG", "LLMGATE_DATABASE_URL", "LLMGATE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_a_run_scores_the_requests_it_made(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    engine = create_engine_for(f"sqlite:///{store}")
    ensure_schema(engine)
    config = tmp_path / "gw.yaml"
    model = {"model_name": "qa", "litellm_params": {"model": "mock/qa", "mock_response": ANSWER}}
    settings = {"database_url": f"sqlite:///{store}", "spill_dir": str(tmp_path / "spill")}
    config.write_text(yaml.safe_dump({"model_list": [model], "llmgate": settings}), encoding="utf-8")
    cases = [
        {
            "id": "capital",
            "vars": {"q": "What is the capital of France?"},
            "assert": [
                {"type": "icontains", "value": "paris"},
                {"type": "icontains", "value": "berlin"},
                {"type": "regex", "value": "^Paris", "metric": "starts_right"},
            ],
        },
        {"id": "city", "vars": {"q": "Name a city."}, "assert": [{"type": "icontains", "value": "rome"}]},
    ]
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        yaml.safe_dump({"name": "capitals", "models": ["qa"], "prompt": {"user": "{{q}}"}, "cases": cases}),
        encoding="utf-8",
    )
    started = datetime.now(UTC) - timedelta(minutes=1)
    result = CliRunner().invoke(app, ["eval", "run", str(suite), "--config", str(config), "--output", "json"])
    assert result.exit_code == 1, result.output  # the berlin and rome assertions fail
    report = json.loads(result.stdout)["runs"][0]
    run_id = report["run"]["id"]
    # the gateway recorded each case's answer: find each case's request by its prompt
    records = list_records(engine)
    assert len(records) == 2
    requests = {
        case: next(r["id"] for r in records if question in json.dumps(r, default=str))
        for case, question in (("capital", "What is the capital"), ("city", "Name a city"))
    }

    capital = request_scores(engine, requests["capital"])
    assert [(s["name"], s["value"], s["source"], s["comment"]) for s in capital] == [
        ("icontains", 1.0, f"eval:{run_id}", None),
        ("icontains#2", 0.0, f"eval:{run_id}", "missing 'berlin'"),
        ("starts_right", 1.0, f"eval:{run_id}", None),
    ]
    assert [(s["name"], s["value"]) for s in request_scores(engine, requests["city"])] == [("icontains", 0.0)]

    # an eval's scores are not users' feedback: no rating, nothing for the feedback monitor
    assert set(request_ratings(engine, requests.values()).values()) == {"unrated"}
    now = datetime.now(UTC) + timedelta(minutes=1)
    assert feedback_rows(engine, started, now) == []
    put_score(
        engine, target_kind="request", target_id=requests["city"], name="thumbs", value=False, source="master"
    )
    assert [r["request_id"] for r in feedback_rows(engine, started, now)] == [requests["city"]]
    assert request_ratings(engine, [requests["city"]]) == {requests["city"]: "bad"}
    engine.dispose()
