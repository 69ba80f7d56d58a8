"""``reports.ops``: the operations report on a store with known alerts, incidents, requests with
retries and fallbacks, and canaries (``support/ops_seed.py``), on SQLite and PostgreSQL; its JSON,
CSV and table forms. Expected figures come from the seed's truths (mean delays, counts, shares),
and the headline ones are also written out by hand."""

from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from llmgate.config.time_range import duration_text
from llmgate.errors import InvalidRequest
from llmgate.reports.ops import ops_report, to_json
from llmgate.reports.ops_formats import share_text, tables, to_csv
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.records import insert_records
from support.migrated import copy_migrated
from support.ops_seed import ALERTS, CANARIES, SINCE, UNTIL, all_requests, at, seed
from support.postgres import postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        copy_migrated(f"sqlite:///{tmp_path / 'store.db'}")  # migrated once per session; upgrade: a no-op
        engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        copy_migrated(url)
        engine = create_engine_for(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def report(engine: Engine) -> dict[str, Any]:
    seed(engine)
    return to_json(ops_report(engine, since=SINCE, until=UNTIL))


def mean(values: list[timedelta]) -> float | None:
    return sum(v.total_seconds() for v in values) / len(values) if values else None


# --- alerts ------------------------------------------------------------------------------------


def test_known_mttd_and_mttr_per_alert_kind(report: dict[str, Any]) -> None:
    kinds = {line["kind"]: line for line in report["alerts"]["kinds"]}
    in_window = [a for a in ALERTS if a.in_window]
    assert list(kinds) == sorted({a.kind for a in in_window})
    for kind, line in kinds.items():
        incidents = [a for a in in_window if a.kind == kind and not a.notice]
        detects = [a.detect for a in incidents if a.detect is not None]
        resolves = [a.resolve for a in incidents if a.resolve is not None]
        assert line["mttd_s"] == pytest.approx(mean(detects)), kind
        assert line["mttr_s"] == pytest.approx(mean(resolves)), kind
        assert line["no_start"] == len(incidents) - len(detects), kind
        assert line["unresolved"] == len(incidents) - len(resolves), kind


def test_the_headline_alert_figures_by_hand(report: dict[str, Any]) -> None:
    kinds = {line["kind"]: line for line in report["alerts"]["kinds"]}
    # drift.prompt: detected after 30 min and 1 h; one resolved after 3 h, one still open
    prompt = kinds["drift.prompt"]
    assert (prompt["alerts"], prompt["mttd_s"], prompt["mttr_s"], prompt["unresolved"]) == (2, 2700, 10800, 1)
    # the canary rolled back 5 s after its alert, 2 min after its first affected record
    assert (kinds["canary.rolled_back"]["mttd_s"], kinds["canary.rolled_back"]["mttr_s"]) == (120, 5)
    # the monitor's health: no start known, resolved by its notice 20 min later
    failing = kinds["monitor.failing"]
    assert (failing["mttd_s"], failing["no_start"], failing["mttr_s"]) == (None, 1, 1200)
    # notices are counted and nothing else
    notice = kinds["drift.prompt.resolved"]
    assert (notice["alerts"], notice["notices"], notice["incidents"], notice["no_start"]) == (1, 1, 0, 0)
    assert notice["unresolved"] == 0 and notice["mttd_s"] is None and notice["mttr_s"] is None
    # every incident: detected in 30 min, 1 h, 10 min, 10 min, 2 min; resolved in 3 h, 20 min, 5 s, 20 min
    total = report["alerts"]["total"]
    assert total["mttd_s"] == pytest.approx((1800 + 3600 + 600 + 600 + 120) / 5)
    assert total["mttr_s"] == pytest.approx((10800 + 1200 + 5 + 1200) / 4)
    assert (total["alerts"], total["notices"], total["no_start"], total["unresolved"]) == (11, 3, 3, 4)


# --- availability --------------------------------------------------------------------------------


def test_availability_and_rates_per_model_group(report: dict[str, Any]) -> None:
    groups = {line["name"]: line for line in report["availability"]["model_groups"]}
    requests = [r for r in all_requests() if r.in_window]
    assert list(groups) == sorted({r.model for r in requests})
    for name, line in groups.items():
        mine = [r for r in requests if r.model == name]
        served = [r for r in mine if not r.rejected]
        succeeded = [r for r in served if r.status == "success"]
        assert line["availability"] == pytest.approx(len(succeeded) / len(served)), name
        first = [r for r in succeeded if len(r.attempts) <= 1]
        assert line["availability_without_fallbacks"] == pytest.approx(len(first) / len(served)), name
        assert line["fallback_rate"] == pytest.approx(sum(r.fallback for r in served) / len(served)), name
        assert line["retry_rate"] == pytest.approx(sum(r.retry for r in served) / len(served)), name
    # by hand: chat served 5 (one 429 refused), 4 answered, 1 of them at once; 2 fallbacks, 3 retries
    chat = groups["chat"]
    assert (chat["requests"], chat["rejected"], chat["served"]) == (6, 1, 5)
    assert (chat["availability"], chat["availability_without_fallbacks"]) == (0.8, 0.2)
    assert (chat["fallback_rate"], chat["retry_rate"]) == (0.4, 0.6)
    assert groups["embed"]["availability"] == 0.5


def test_availability_per_deployment_and_total(report: dict[str, Any]) -> None:
    deployments = {line["name"]: line for line in report["availability"]["deployments"]}
    requests = [r for r in all_requests() if r.in_window]
    names = sorted({r.deployment for r in requests if r.deployment is not None})
    assert list(deployments) == [*names, None]  # the refused request has no deployment, listed last
    backup = deployments["backup-a"]  # one answered after a fallback, one failed there
    assert (backup["requests"], backup["succeeded"], backup["availability"]) == (2, 1, 0.5)
    assert backup["availability_without_fallbacks"] == 0
    total = report["availability"]["total"]
    assert total["requests"] == len(requests)
    assert total["served"] == sum(not r.rejected for r in requests)
    assert total["with_fallback"] == sum(r.fallback for r in requests) == 2


# --- canaries and coverage -----------------------------------------------------------------------


def test_canary_outcomes(report: dict[str, Any]) -> None:
    items = {item["id"]: item for item in report["canaries"]["items"]}
    listed = [c for c in CANARIES if c.listed]
    assert list(items) == [c.id for c in sorted(listed, key=lambda c: c.started_at)]
    rolled = items["chat-v2"]
    assert (rolled["outcome"], rolled["candidate_requests"]) == ("rolled_back", 3)
    assert rolled["time_to_decision_s"] == 3605  # started at 05:00, rolled back at 06:00:05
    assert items["live"]["time_to_decision_s"] is None and items["long"]["outcome"] == "active"
    summary = report["canaries"]["summary"]
    assert {k: summary[k] for k in ("promoted", "rolled_back", "cancelled", "active")} == {
        "promoted": 1,
        "rolled_back": 1,
        "cancelled": 0,
        "active": 2,
    }
    assert summary["mean_time_to_promoted_s"] == (at(8) - at(-48)).total_seconds() == 56 * 3600
    assert summary["mean_candidate_requests_to_rolled_back"] == 3
    assert summary["mean_candidate_requests_to_promoted"] == 2


def test_coverage_shares(report: dict[str, Any]) -> None:
    cover = report["coverage"]
    requests = [r for r in all_requests() if r.in_window]
    assert cover["requests"] == len(requests)
    assert cover["sampled_share"] == pytest.approx(3 / len(requests))  # three samples in the window
    chat = sum(r.model == "chat" for r in requests)  # only chat had a scheduled eval run in it
    assert cover["eval_share"] == pytest.approx(chat / len(requests)) and cover["eval_models"] == ["chat"]


# --- empty, bad ranges, formats ------------------------------------------------------------------


def test_an_empty_window(engine: Engine) -> None:
    seed(engine)
    report = ops_report(engine, since=UNTIL + timedelta(days=30), until=UNTIL + timedelta(days=31))
    data = to_json(report)
    assert data["alerts"]["kinds"] == [] and data["alerts"]["total"]["mttd_s"] is None
    assert (
        data["availability"]["model_groups"] == [] and data["availability"]["total"]["availability"] is None
    )
    # only the canaries still running then are listed
    running = [c.id for c in sorted(CANARIES, key=lambda c: c.started_at) if c.ended_at is None]
    assert [i["id"] for i in data["canaries"]["items"]] == running == ["long", "live"]
    assert data["coverage"] == {
        "requests": 0,
        "sampled": 0,
        "sampled_share": None,
        "eval_covered": 0,
        "eval_share": None,
        "eval_models": [],
    }
    assert to_csv(report).startswith("section,name,metric,value\r\n")
    assert [title for title, *_ in tables(report)] == [
        "Alerts",
        "Availability per model group",
        "per deployment",
        "Canaries",
        "Monitoring coverage",
    ]


def test_until_must_follow_since(engine: Engine) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ops_report(engine, since=UNTIL, until=SINCE)
    assert caught.value.param == "until"


def test_csv_is_long_form_and_neutralises_formulas(engine: Engine) -> None:
    seed(engine)
    row = {
        "id": uuid.uuid4().hex,
        "created_at": at(3),
        "endpoint": "chat/completions",
        "model": '=HYPERLINK("http://x")',
        "deployment": "@d",
        "provider": "openai",
        "status": "success",
        "status_code": 200,
        "latency_ms": 1.0,
    }
    insert_records(engine, [row])
    text = to_csv(ops_report(engine, since=SINCE, until=UNTIL))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "name", "metric", "value"] and all(len(r) == 4 for r in rows)
    figures = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
    assert figures[("model_groups", "chat", "availability")] == "0.8"
    assert figures[("alerts", "drift.prompt", "mttd_s")] == "2700.0"
    assert figures[("alerts", "monitor.failing", "mttd_s")] == ""  # nothing measured
    assert figures[("coverage", "TOTAL", "eval_models")] == "chat"
    assert ("model_groups", "'" + row["model"], "requests") in figures  # a formula stays text
    assert ("deployments", "'@d", "requests") in figures
    assert '"\'=HYPERLINK(""http://x"")"' in text


def test_table_cells() -> None:
    assert [duration_text(s) for s in (None, 0.04, 20.44, 60, 252, 3600, 7500, 86400, 97200)] == [
        "-",
        "0.0 s",
        "20.4 s",
        "1 min",
        "4 min 12 s",
        "1 h",
        "2 h 5 min",
        "1 d",
        "1 d 3 h",
    ]
    assert [share_text(s) for s in (None, 1.0, 0.99951, 0)] == ["-", "100.00%", "99.95%", "0.00%"]


def test_tables_for_people(report: dict[str, Any], engine: Engine) -> None:
    sections = {
        title: (headers, rows, note)
        for title, headers, rows, _, note in tables(ops_report(engine, since=SINCE, until=UNTIL))
    }
    headers, rows, note = sections["Alerts"]
    prompt = next(r for r in rows if r[0] == "drift.prompt")
    assert prompt[headers.index("MTTD")] == "45 min" and prompt[headers.index("MTTR")] == "3 h"
    assert rows[-1][0] == "TOTAL" and note is not None and "3 without" in note
    headers, rows, _ = sections["Availability per model group"]
    chat = next(r for r in rows if r[0] == "chat")
    assert chat[headers.index("availability")] == "80.00%"
    assert chat[headers.index("without fallbacks")] == "20.00%"
    headers, rows, note = sections["Canaries"]
    assert next(r for r in rows if r[0] == "chat-v2")[headers.index("time to decision")] == "1 h"
    assert note is not None and "rolled back 1" in note
