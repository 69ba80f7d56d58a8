"""``llmgate quality report --by-feedback`` (and ``quality_report(by_feedback=True)``, and
``GET /admin/monitors/quality/report?by_feedback=true``): the retrieval-quality figures per model,
route and users' rating of the scored requests; a request rated up by one key and down by another is
``bad``, one with only an eval's score is ``unrated``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.monitors.reports import quality_report
from llmgate.store.monitors import insert_samples
from llmgate.store.scores import put_request_scores, put_score
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.upstream import FakeUpstream

NOW = datetime.now(UTC).replace(microsecond=0)
#: record id -> (groundedness, who rated it how)
SAMPLES: dict[str, tuple[float, list[tuple[str, object]]]] = {
    "up-1": (0.9, [("key:k1", True)]),
    "up-2": (0.7, [("master", "good")]),
    "disputed": (0.2, [("key:k1", True), ("key:k2", False)]),
    "evaluated": (0.5, []),
    "quiet": (0.3, []),
}


def seed(engine: Any) -> None:
    rows = []
    for offset, (record_id, (grounded, ratings)) in enumerate(SAMPLES.items()):
        at = NOW - timedelta(minutes=10, seconds=offset)
        rows.append(
            {
                "record_id": record_id,
                "created_at": at,
                "sampled_at": at,
                "model": "gpt",
                "route": "chat/completions",
                "embedder": "test",
                "dim": 1,
                "prompt_vector": b"\x00\x00\x00\x00",
                "prompt_excerpt": f"question {record_id}",
                "groundedness": grounded,
                "context_relevance": grounded,
                "answer_relevance": grounded,
            }
        )
        for source, value in ratings:
            put_score(
                engine, target_kind="request", target_id=record_id, name="thumbs", value=value, source=source
            )
    put_request_scores(engine, "eval:run-1", [{"target_id": "evaluated", "name": "grounded", "value": 0.0}])
    insert_samples(engine, rows)


@dataclass
class World:
    gateway: RunningGateway
    config: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("quality-feedback")
    upstream = FakeUpstream().start()
    config = upstream_config(upstream, database_url=f"sqlite:///{tmp / 'store.db'}")
    gateway = RunningGateway(config, tmp)
    path = tmp / "llmgate.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    gateway.start()
    try:
        seed(gateway.state.engine)  # once the gateway has migrated its store
        yield World(gateway, path)
    finally:
        gateway.stop()
        upstream.stop()


def split(report: dict[str, Any]) -> dict[str, tuple[int, float]]:
    return {g["feedback"]: (g["n"], round(g["metrics"]["groundedness"]["mean"], 6)) for g in report["groups"]}


EXPECTED = {"good": (2, 0.8), "bad": (1, 0.2), "unrated": (2, 0.4)}


def test_the_report_splits_each_model_by_rating(world: World) -> None:
    state = world.gateway.state
    settings = state.config.llmgate.monitors
    report = quality_report(state.engine, settings, now=NOW, window="1h", by_feedback=True)
    assert report["by_feedback"] is True
    assert [(g["model"], g["feedback"]) for g in report["groups"]] == [
        ("gpt", "good"),
        ("gpt", "bad"),
        ("gpt", "unrated"),
    ]
    assert split(report) == EXPECTED
    assert {w["record_id"] for w in report["groups"][1]["worst"]} == {"disputed"}
    whole = quality_report(state.engine, settings, now=NOW, window="1h")
    assert [g["n"] for g in whole["groups"]] == [5] and "feedback" not in whole["groups"][0]


def test_the_cli_and_the_admin_api_split_by_feedback(world: World) -> None:
    command = ["quality", "report", "--config", str(world.config), "--window", "1h", "--by-feedback"]
    result = CliRunner().invoke(app, [*command, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert split(json.loads(result.stdout)) == EXPECTED
    table = CliRunner().invoke(app, command)
    assert table.exit_code == 0, table.output
    assert all(
        f"gpt · chat/completions · {label} ·" in table.stdout
        for label in ("rated good", "rated bad", "unrated")
    )
    answer = httpx.get(
        world.gateway.url + "/admin/monitors/quality/report",
        params={"window": "1h", "by_feedback": "true"},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert split(answer.json()) == EXPECTED
