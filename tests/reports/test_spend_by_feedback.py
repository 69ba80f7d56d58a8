"""Spend and the overview split by the users' feedback: ``spend_report(group_by=["feedback"])``,
``llmgate report spend --group-by feedback``, ``GET /admin/spend/report?group_by=feedback``, the
dashboard's ``/ui/api/spend?group_by=feedback`` and ``/ui/api/overview/feedback``, over a store with
known records and scores: a request rated up by one key and down by another is ``bad``; scores from
the monitor or an eval, and feedback on a session, leave a request ``unrated``; the groups' exact
Decimal sums add up to the ungrouped total."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.reports.spend import spend_report, to_json
from llmgate.store.monitors import insert_samples
from llmgate.store.records import insert_records
from llmgate.store.scores import put_request_scores, put_score
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.upstream import FakeUpstream

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
AT = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)
SINCE, UNTIL = AT - timedelta(minutes=5), AT + timedelta(minutes=5)

#: id -> (cost, latency ms, status code, model); each request's rating is in EXPECTED
RECORDS = {
    "good-1": ("1.1111111111", 10.0, 200, "gpt"),
    "good-2": ("0.0000000001", 30.0, 200, "mini"),
    "bad-twice": ("2.2222222222", 50.0, 200, "gpt"),
    "bad-error": (None, 70.0, 502, "gpt"),
    "monitored": ("3.3333333333", 90.0, 200, "gpt"),
    "plain": ("4.4444444444", 110.0, 200, "mini"),
    "in-session": ("0.5", 130.0, 200, "mini"),
}
EXPECTED = {
    "good": {"good-1", "good-2"},
    "bad": {"bad-twice", "bad-error"},
    "unrated": {"monitored", "plain", "in-session"},
}


def seed(engine: Any) -> None:
    rows = []
    for offset, (request_id, (cost, latency, code, model)) in enumerate(RECORDS.items()):
        rows.append(
            {
                "id": request_id,
                "created_at": AT + timedelta(seconds=offset),
                "endpoint": "chat/completions",
                "model": model,
                "provider": "openai",
                "status": "success" if code == 200 else "error",
                "status_code": code,
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "cost_usd": Decimal(cost) if cost is not None else None,
                "latency_ms": latency,
                "session_id": "s-1" if request_id == "in-session" else None,
            }
        )
    insert_records(engine, rows)

    def score(target: str, name: str, value: object, source: str, kind: str = "request") -> None:
        put_score(engine, target_kind=kind, target_id=target, name=name, value=value, source=source)

    score("good-1", "thumbs", True, "key:k1")
    score("good-2", "thumbs", "up", "master")
    score("good-2", "stars", 4, "key:k1")
    score("bad-twice", "thumbs", True, "key:k1")
    score("bad-twice", "thumbs", False, "key:k2")
    score("bad-error", "thumbs", "👎", "anonymous")
    score("s-1", "thumbs", False, "key:k1", kind="session")
    put_request_scores(engine, "eval:run-1", [{"target_id": "monitored", "name": "contains", "value": 1.0}])
    insert_samples(
        engine,
        [
            {
                "record_id": "monitored",
                "created_at": AT,
                "sampled_at": AT,
                "model": "gpt",
                "route": "chat/completions",
                "embedder": "test",
                "dim": 1,
                "prompt_vector": b"\x00\x00\x00\x00",
                "groundedness": 0.1,
            }
        ],
    )


def cost_of(ids: set[str]) -> Decimal:
    return sum((Decimal(RECORDS[i][0] or 0) for i in ids), Decimal(0))


@dataclass
class World:
    gateway: RunningGateway
    config: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("spend-feedback")
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


def test_the_groups_are_the_ratings_and_add_up_to_the_total(world: World) -> None:
    engine = world.gateway.state.engine
    report = spend_report(engine, since=SINCE, until=UNTIL, group_by=["feedback"])
    lines = {line.group[0]: line for line in report.lines}
    assert list(lines) == ["bad", "good", "unrated"]
    for rating, ids in EXPECTED.items():
        assert (lines[rating].requests, lines[rating].cost_usd) == (len(ids), cost_of(ids))
    assert (lines["bad"].succeeded, lines["bad"].failed) == (1, 1)
    whole = spend_report(engine, since=SINCE, until=UNTIL)
    assert (
        sum((line.cost_usd for line in report.lines), Decimal(0))
        == whole.total.cost_usd
        == report.total.cost_usd
    )
    assert whole.total.cost_usd == Decimal("11.6111111111")
    assert sum(line.requests for line in report.lines) == whole.total.requests == len(RECORDS)
    # with another dimension: each (rating, model) pair, still adding up
    both = spend_report(engine, since=SINCE, until=UNTIL, group_by=["feedback", "model"])
    pairs = {line.group: line.requests for line in both.lines}
    assert pairs == {
        ("bad", "gpt"): 2,
        ("good", "gpt"): 1,
        ("good", "mini"): 1,
        ("unrated", "gpt"): 1,
        ("unrated", "mini"): 2,
    }
    assert sum((line.cost_usd for line in both.lines), Decimal(0)) == whole.total.cost_usd


def cli(world: World, *args: str) -> str:
    window = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    command = ["report", "spend", "--config", str(world.config), *window, "--group-by", "feedback", *args]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_cli_splits_spend_by_feedback(world: World) -> None:
    data = json.loads(cli(world, "--format", "json"))
    assert data["group_by"] == ["feedback"]
    assert {row["feedback"]: (row["requests"], row["cost_usd"]) for row in data["rows"]} == {
        "bad": (2, "2.2222222222"),
        "good": (2, "1.1111111112"),
        "unrated": (3, "8.2777777777"),
    }
    assert data["totals"]["cost_usd"] == "11.6111111111"
    table = list(csv.reader(io.StringIO(cli(world, "--format", "csv"))))
    assert table[0][:2] == ["feedback", "requests"]
    assert [row[0] for row in table[1:]] == ["bad", "good", "unrated", "TOTAL"]
    text = cli(world)
    assert all(word in text for word in ("bad", "good", "unrated", "TOTAL", "$11.61"))


def test_the_admin_api_and_the_dashboard_split_spend_by_feedback(world: World) -> None:
    params = {"since": SINCE.isoformat(), "until": UNTIL.isoformat(), "group_by": "feedback"}
    expected = json.loads(
        json.dumps(
            to_json(spend_report(world.gateway.state.engine, since=SINCE, until=UNTIL, group_by=["feedback"]))
        )
    )
    for path in ("/admin/spend/report", "/ui/api/spend"):
        answer = httpx.get(world.gateway.url + path, params=params, headers=ADMIN, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json() == expected
    download = httpx.get(world.gateway.url + "/ui/api/spend.csv", params=params, headers=ADMIN, timeout=30)
    assert "llmgate-spend-by-feedback-" in download.headers["content-disposition"]


def test_the_overview_splits_by_feedback(world: World) -> None:
    params = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    answer = httpx.get(
        world.gateway.url + "/ui/api/overview/feedback", params=params, headers=ADMIN, timeout=30
    )
    assert answer.status_code == 200, answer.text
    groups = {g["rating"]: g for g in answer.json()["groups"]}
    assert list(groups) == ["good", "bad", "unrated"]
    assert {r: g["requests"] for r, g in groups.items()} == {r: len(ids) for r, ids in EXPECTED.items()}
    assert {r: Decimal(g["cost_usd"]) for r, g in groups.items()} == {
        r: cost_of(i) for r, i in EXPECTED.items()
    }
    assert (groups["bad"]["errors"], groups["bad"]["error_rate"]) == (1, 0.5)
    assert groups["bad"]["p50_ms"] == 50.0  # the successful one only
    assert (groups["good"]["p50_ms"], groups["good"]["p95_ms"]) == (10.0, 30.0)
    assert (groups["unrated"]["p50_ms"], groups["unrated"]["input_tokens"]) == (110.0, 30)
    overview = httpx.get(
        world.gateway.url + "/ui/api/overview", params=params, headers=ADMIN, timeout=30
    ).json()
    assert sum(g["requests"] for g in groups.values()) == overview["totals"]["requests"]
    assert sum(Decimal(g["cost_usd"]) for g in groups.values()) == Decimal(overview["totals"]["cost_usd"])
    empty = httpx.get(
        world.gateway.url + "/ui/api/overview/feedback",
        params={
            "since": (SINCE - timedelta(days=3)).isoformat(),
            "until": (SINCE - timedelta(days=2)).isoformat(),
        },
        headers=ADMIN,
        timeout=30,
    ).json()
    assert [(g["rating"], g["requests"], Decimal(g["cost_usd"])) for g in empty["groups"]] == [
        ("good", 0, 0),
        ("bad", 0, 0),
        ("unrated", 0, 0),
    ]
