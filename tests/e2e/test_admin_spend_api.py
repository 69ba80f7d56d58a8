"""``GET /admin/spend/report`` (and budgets, pricing gaps) over real HTTP: the CLI's numbers, JSON or CSV."""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from llmgate.config.time_range import parse_moment
from llmgate.reports.spend import spend_report, to_json
from llmgate.store.migrate import upgrade
from llmgate.store.records import insert_records
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.upstream import FakeUpstream

TZ = "Asia/Kolkata"  # UTC+5:30: local midnight is 18:30 UTC the day before
ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
SPAN = {"since": "2026-10-01", "until": "2026-12-01"}


def rows() -> list[dict[str, Any]]:
    rng = random.Random(23)
    midnights = [datetime(2026, m, d, 18, 30, tzinfo=UTC) for m, d in ((9, 30), (10, 31), (11, 30))]
    moments = [m + timedelta(microseconds=s) for m in midnights for s in (-1, 0, 1)]
    moments += [
        datetime(2026, 9, 29, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 95 * 24 * 60))
        for _ in range(150)
    ]
    out = []
    for moment in moments:
        cost = rng.choice([None, Decimal(rng.randint(0, 10**11)).scaleb(-10)])
        out.append(
            {
                "id": uuid.uuid4().hex,
                "created_at": moment,
                "endpoint": "chat/completions",
                "model": rng.choice(["gpt-4o-mini", "claude-sonnet"]),
                "provider": "openai",
                "status": "success",
                "status_code": 200,
                "prompt_tokens": rng.randint(0, 900),
                "completion_tokens": rng.randint(0, 300),
                "cost_usd": cost,
                "cost_unknown": cost is None,
                "latency_ms": 3.0,
                "team_id": rng.choice([None, "search", "billing"]),
                "tags_json": orjson.dumps({"feature": rng.choice(["a", "b"])}).decode(),
            }
        )
    return out


def expected(data: list[dict[str, Any]]) -> dict[tuple[Any, ...], tuple[int, int, int, Decimal]]:
    """Sums per (team, model, month) in Kolkata, computed from the rows themselves."""
    since, until = datetime(2026, 9, 30, 18, 30, tzinfo=UTC), datetime(2026, 11, 30, 18, 30, tzinfo=UTC)
    out: dict[tuple[Any, ...], tuple[int, int, int, Decimal]] = {}
    for r in data:
        if not since <= r["created_at"] < until:
            continue
        month = r["created_at"].astimezone(ZoneInfo(TZ)).strftime("%Y-%m")
        key = (r["team_id"], r["model"], month)
        n, i, o, c = out.get(key, (0, 0, 0, Decimal(0)))
        out[key] = (n + 1, i + r["prompt_tokens"], o + r["completion_tokens"], c + (r["cost_usd"] or 0))
    return out


@pytest.fixture
def gateway(
    upstream: FakeUpstream, gateway_factory: Callable[..., RunningGateway]
) -> tuple[RunningGateway, list[dict[str, Any]]]:
    running = gateway_factory(upstream_config(upstream, time_zone=TZ))
    engine = running.state.engine
    upgrade(engine)
    data = rows()
    insert_records(engine, data)
    return running, data


def test_json_report_matches_the_records_and_the_cli(
    gateway: tuple[RunningGateway, list[dict[str, Any]]],
) -> None:
    running, data = gateway
    response = running.get(
        "/admin/spend/report", params={**SPAN, "group_by": "team,model,month"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    got = {
        (r["team"], r["model"], r["month"]): (
            r["requests"],
            r["input_tokens"],
            r["output_tokens"],
            Decimal(r["cost_usd"]),
        )
        for r in body["rows"]
    }
    assert got == expected(data)
    assert Decimal(body["totals"]["cost_usd"]) == sum((v[3] for v in got.values()), Decimal(0))
    # the very same document the CLI prints with --format json
    library = spend_report(
        running.state.engine,
        since=parse_moment(SPAN["since"], TZ),
        until=parse_moment(SPAN["until"], TZ),
        group_by=["team", "model", "month"],
        tz=TZ,
    )
    assert body == orjson.loads(orjson.dumps(to_json(library)))


def test_csv_report(gateway: tuple[RunningGateway, list[dict[str, Any]]]) -> None:
    running, data = gateway
    response = running.get(
        "/admin/spend/report", params={**SPAN, "group_by": "team,model,month", "format": "csv"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(response.text)))
    assert list(parsed[0]) == [
        "team",
        "model",
        "month",
        "requests",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "succeeded",
        "failed",
        "rejected",
        "saved_usd",
        "hit_rate",
    ]
    total = parsed.pop()
    assert total["team"] == "TOTAL"
    got = {
        (None if r["team"] == "(none)" else r["team"], r["model"], r["month"]): (
            int(r["requests"]),
            int(r["input_tokens"]),
            int(r["output_tokens"]),
            Decimal(r["cost_usd"]),
        )
        for r in parsed
    }
    assert got == expected(data)
    assert Decimal(total["cost_usd"]) == sum((v[3] for v in got.values()), Decimal(0))
    assert int(total["requests"]) == sum(v[0] for v in got.values())
    assert all(
        int(r["succeeded"]) + int(r["failed"]) + int(r["rejected"]) == int(r["requests"]) for r in parsed
    )


def test_master_key_only_and_bad_parameters(gateway: tuple[RunningGateway, list[dict[str, Any]]]) -> None:
    running, _ = gateway
    assert running.get("/admin/spend/report").status_code == 401
    wrong = running.get("/admin/spend/report", headers={"Authorization": "Bearer sk-wrong"})
    assert wrong.status_code == 401
    bad = running.get("/admin/spend/report", params={"group_by": "team,planet"}, headers=ADMIN)
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    assert "planet" in bad.json()["error"]["message"]
    assert running.get("/admin/spend/report", params={"since": "soon"}, headers=ADMIN).status_code == 400
    assert running.get("/admin/spend/report", params={"format": "xml"}, headers=ADMIN).status_code == 400


def test_budgets_and_pricing_gaps(gateway: tuple[RunningGateway, list[dict[str, Any]]]) -> None:
    running, data = gateway
    gaps = running.get("/admin/spend/pricing-gaps", headers=ADMIN)
    assert gaps.status_code == 200
    assert sum(g["requests"] for g in gaps.json()) == sum(1 for r in data if r["cost_unknown"])
    budgets = running.get("/admin/spend/budgets", headers=ADMIN)
    assert budgets.status_code == 200
    assert budgets.json()["budgets"] == [] and budgets.json()["time_zone"] == TZ


def test_documented_in_the_openapi_schema(gateway: tuple[RunningGateway, list[dict[str, Any]]]) -> None:
    running, _ = gateway
    schema = running.get("/openapi.json").json()
    operation = schema["paths"]["/admin/spend/report"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"since", "until", "group_by", "format"}
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert "/admin/spend/budgets" in schema["paths"] and "/admin/spend/pricing-gaps" in schema["paths"]
