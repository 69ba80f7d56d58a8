"""What the response cache saved, as finance reads it, from records that went through the real
pipeline: a gateway on loopback whose upstream answered two requests (sent with the ``openai``
SDK) and whose recorder took three calls the cache answered (``CallRecord`` s as the cache hands
them over: the replayed answer, the deployment that first gave it, no attempts). The writer
process turns them into rows; then ``/metrics``, ``/admin/spend/report``, the dashboard's
``/ui/api/spend``, LiteLLM's ``/spend/logs`` and ``llmgate logs`` must agree with the records."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.config import build_deployments
from llmgate.store.records import list_records
from llmgate.telemetry.call_record import CallRecord
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.upstream import FakeUpstream

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
MODEL = "gpt-4o-mini"  # $0.0000015 per input token, $0.000002 per output token (upstream_config)
ANSWER = {
    "id": "chatcmpl-cached",
    "object": "chat.completion",
    "model": MODEL,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
}
HIT_PRICE = Decimal("0.0025")  # 1000 * 0.0000015 + 500 * 0.000002


@pytest.fixture
def served(upstream: FakeUpstream, gateway_factory: Any) -> tuple[RunningGateway, list[str]]:
    """The gateway, after two answered requests and three cache hits; the hits' record ids."""
    gateway: RunningGateway = gateway_factory(upstream_config(upstream))
    client = gateway.client(MASTER_KEY)
    for question in ("What is the capital of France?", "And of Italy?"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}])
    (deployment,) = [d for d in build_deployments(gateway.config) if d.model_name == MODEL]
    hits = []
    for cache, similarity in (("hit", None), ("hit", None), ("semantic-hit", 0.962)):
        record = CallRecord(
            id=uuid.uuid4().hex,
            created_at=datetime.now(UTC),
            endpoint="chat/completions",
            model=MODEL,
            request={"model": MODEL, "messages": [{"role": "user", "content": "Capital of France?"}]},
            stream=False,
            auth_identity="master",
            deployment=deployment,
            response_body=orjson.dumps(ANSWER),
            latency_ms=0.3,
            cache=cache,
            cache_key="e" * 64,
            cache_similarity=similarity,
        )
        gateway.state.loop.call_soon_threadsafe(gateway.state.recorder.submit, record)
        hits.append(record.id)
    gateway.flush()
    return gateway, hits


def test_spend_metrics_and_logs_show_what_the_cache_saved(served: tuple[RunningGateway, list[str]]) -> None:
    gateway, hits = served
    records = list_records(gateway.state.engine, limit=100)
    assert len(records) == 5
    by_id = {r["id"]: r for r in records}
    for record_id in hits:  # recorded like any call: the prompt, the answer, tokens; free; saved priced
        row = by_id[record_id]
        assert row["cache_hit"] is True and row["response_text"] == "Paris." and row["total_tokens"] == 1500
        assert (row["cost_usd"], row["saved_usd"], row["attempts"]) == (0, HIT_PRICE, 0)
    answered = [r for r in records if r["id"] not in hits]
    assert all(r["cache_hit"] is False and r["saved_usd"] is None and r["cost_usd"] > 0 for r in answered)
    cost = sum((r["cost_usd"] for r in records), Decimal(0))
    saved = sum((r["saved_usd"] or Decimal(0) for r in records), Decimal(0))
    assert saved == 3 * HIT_PRICE

    # the spend report: cost and saved add up to the records, 3 of 5 requests were hits
    params = {"since": "1h", "group_by": "model"}
    report = gateway.get("/admin/spend/report", params=params, headers=ADMIN).json()
    (line,) = report["rows"]
    assert (line["model"], line["requests"], line["hit_rate"]) == (MODEL, 5, 0.6)
    assert (Decimal(line["cost_usd"]), Decimal(line["saved_usd"])) == (cost, saved)
    assert report["totals"]["saved_usd"] == f"{saved:.10f}" and report["totals"]["hit_rate"] == 0.6
    table = gateway.get("/admin/spend/report", params={**params, "format": "csv"}, headers=ADMIN).text
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [(r["model"], Decimal(r["saved_usd"]), float(r["hit_rate"])) for r in rows] == [
        (MODEL, saved, 0.6),
        ("TOTAL", saved, 0.6),
    ]
    page = gateway.get("/ui/api/spend", params=params, headers=ADMIN).json()  # the dashboard's data
    assert (page["rows"], page["totals"]) == (report["rows"], report["totals"])

    # /metrics: hits and misses by model, and the dollars saved
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(gateway.get("/metrics").text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = float(sample.value)
    assert samples["llmgate_cache_requests_total", (("model", MODEL), ("result", "hit"))] == 2
    assert samples["llmgate_cache_requests_total", (("model", MODEL), ("result", "semantic-hit"))] == 1
    assert samples["llmgate_cache_saved_usd_total", (("model", MODEL),)] == pytest.approx(float(saved))

    # LiteLLM's spend logs say which were cache hits, and charge them nothing
    logs = gateway.get("/spend/logs", headers=ADMIN).json()
    assert {row["request_id"]: row["cache_hit"] for row in logs} == {
        r["id"]: "True" if r["id"] in hits else "False" for r in records
    }
    assert all(
        row["spend"] == 0 and row["cache_key"] == "e" * 64 for row in logs if row["cache_hit"] == "True"
    )


def test_logs_show_and_filter_by_what_the_cache_did(
    served: tuple[RunningGateway, list[str]], tmp_path: Path
) -> None:
    gateway, hits = served
    config = tmp_path / "logs.yaml"
    url = gateway.state.engine.url.render_as_string(hide_password=False)
    config.write_text(yaml.safe_dump({"model_list": [], "llmgate": {"database_url": url}}))

    def logs(*args: str) -> str:
        result = CliRunner().invoke(app, ["logs", "--config", str(config), *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    listed = json.loads(logs("--format", "json", "--cache", "hit"))
    assert sorted(r["id"] for r in listed) == sorted(hits[:2])
    assert all(r["cache"] == "hit" and r["saved_usd"] == "0.0025000000" for r in listed)
    (semantic,) = json.loads(logs("--format", "json", "--cache", "Semantic-Hit"))
    assert (semantic["id"], semantic["cache_similarity"], semantic["cost_usd"]) == (
        hits[2],
        0.962,
        "0.0000000000",
    )
    assert json.loads(logs("--format", "json", "--cache", "miss")) == []
    table = logs()
    assert "cache" in table.splitlines()[0] and table.count("semantic-hit") == 1
    one = logs(hits[2])
    assert "semantic-hit" in one and "0.0025000000" in one and "saved $" in one
    bad = CliRunner().invoke(app, ["logs", "--config", str(config), "--cache", "sometimes"])
    assert bad.exit_code == 2 and "cache: use one of hit, semantic-hit, miss, bypass" in bad.output
