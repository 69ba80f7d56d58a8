"""End to end: ``llmgate serve`` with the monitor on, mixed RAG and plain traffic through the openai
SDK, on SQLite and on PostgreSQL; then a real fault that makes every pass fail.

- Mixed traffic: RAG requests carry their retrieved passage as ``metadata.context`` (HaluEval
  knowledge, answered with the right answer), plain ones are general assistant queries. A first
  burst starts with a plain request, a second with a RAG one: RAG samples must get their scores,
  plain ones none, ``llmgate quality report`` must show them, ``drift status`` must move on with
  the monitor healthy, and ``/metrics`` must say so.
- Failing passes: the monitor embeds through an embeddings endpoint that goes down (503). Each pass
  fails; after ``failure_alert_after`` (3) passes in a row one ``monitor.failing`` alert reaches
  the webhook, ``drift status``, ``/metrics`` and readiness show it, and when the endpoint is back
  one ``monitor.failing.resolved`` follows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa
import yaml
from prometheus_client.parser import text_string_to_metric_families

from llmgate.store.db import create_engine_for
from support.configs import MASTER_KEY, upstream_config
from support.gateway import start_serve, wait_healthy
from support.postgres import postgres_schema
from support.shared_data import load_rows
from support.upstream import FakeUpstream
from support.webhook import Receiver

QA = load_rows("halueval_qa_dev.jsonl")[:12]
GENERAL = [row["user_query"] for row in load_rows("halueval_general_dev.jsonl")[:12]]
ANSWERS = {row["question"]: row["right_answer"] for row in QA}
HEADERS = {"Authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        yield url


class Served:
    """``llmgate serve`` on a config file, with the CLI and HTTP reads the tests make of it."""

    def __init__(self, config: dict[str, Any], tmp_path: Path) -> None:
        self.config_path = tmp_path / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.process, self.base = start_serve(self.config_path)
        wait_healthy(self.base)
        self.client = openai.OpenAI(base_url=self.base + "/v1", api_key=MASTER_KEY, max_retries=0)

    def ask(self, question: str, context: str | None = None) -> str:
        """One chat request; its record id."""
        extra: dict[str, Any] = {"metadata": {"context": context}} if context is not None else {}
        raw = self.client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}], **extra
        )
        return str(raw.headers["x-llmgate-request-id"])

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "llmgate.cli.main", *args, "--config", str(self.config_path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    def status(self) -> dict[str, Any]:
        """``drift status`` as the admin API serves it (``{}`` until the schema is there)."""
        answer = httpx.get(self.base + "/admin/monitors/drift/status", headers=HEADERS, timeout=30)
        return dict(answer.json()) if answer.status_code == 200 else {}

    def passed_with(self, samples: int) -> dict[str, Any]:
        """``drift status`` once ``samples`` are stored and a pass has ended since (the samples are
        stored mid-pass; the pass's health is recorded at its end)."""
        wait_for(
            f"{samples} samples",
            lambda: (s := self.status()) and s["groups"] and s["groups"][0]["samples"] >= samples,
        )
        seen = datetime.now(UTC)
        status: dict[str, Any] = wait_for(
            "a pass to end",
            lambda: (
                (s := self.status())["monitor"]["last_pass_at"]
                and _at(s["monitor"]["last_pass_at"]) > seen
                and s
            ),
        )
        return status

    def metrics(self) -> dict[str, float]:
        text = httpx.get(self.base + "/metrics", timeout=30).text
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name.startswith("llmgate_monitor_")
        }

    def stop(self) -> None:
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 240) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def monitors(**extra: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "interval_s": 0.5,
        "settle_s": 0.2,
        "lookback_s": 60,
        "failure_alert_after": 3,
        "drift": {"window": "60", "reference_size": 20, "min_samples": 10},
        "rag": {"min_samples": 5},
        **extra,
    }


def test_mixed_rag_and_plain_traffic_is_scored_and_the_monitor_reports_healthy(
    database_url: str, tmp_path: Path
) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("faiss")
    upstream = FakeUpstream(reply=lambda body: ANSWERS.get(text_of(body), "Here is what I found.")).start()
    config = upstream_config(
        upstream, database_url=database_url, spill_dir=str(tmp_path / "spill"), monitors=monitors()
    )
    served = Served(config, tmp_path)
    try:
        rag: list[str] = []
        plain: list[str] = []
        # First burst starts with a plain request, the second with a RAG one.
        for i in range(6):
            plain.append(served.ask(GENERAL[i]))
            rag.append(served.ask(QA[i]["question"], QA[i]["knowledge"]))
        first = served.passed_with(samples=12)
        for i in range(6, 12):
            rag.append(served.ask(QA[i]["question"], QA[i]["knowledge"]))
            plain.append(served.ask(GENERAL[i]))
        second = served.passed_with(samples=24)

        engine = create_engine_for(database_url)
        try:
            with engine.connect() as conn:
                stored = dict(
                    conn.execute(sa.text("SELECT record_id, groundedness FROM monitor_samples")).all()
                )
        finally:
            engine.dispose()
        assert set(stored) == set(rag) | set(plain)
        assert all(stored[i] is not None for i in rag), "a RAG request was stored without its scores"
        assert all(stored[i] is None for i in plain), "a plain request got retrieval scores"

        report = json.loads(served.cli("quality", "report", "--format", "json").stdout)
        (group,) = report["groups"]
        assert group["model"] == "gpt-4o-mini" and group["n"] == 12
        assert 0 < group["metrics"]["groundedness"]["mean"] <= 1
        text = served.cli("quality", "report").stdout
        assert "No RAG requests scored yet" not in text and "12 requests" in text

        # drift status moves on, with a healthy monitor
        assert _at(second["monitor"]["last_success_at"]) > _at(first["monitor"]["last_success_at"])
        assert second["groups"][0]["newest_sample"] > first["groups"][0]["newest_sample"]
        for status in (first, second):
            assert status["monitor"]["status"] == "ok", status["monitor"]
            assert status["monitor"]["consecutive_failures"] == 0 == status["monitor"]["failures_total"], (
                json.dumps(status["monitor"])
            )

            assert status["monitor"]["lag_s"] < 60
        shown = " ".join(served.cli("drift", "status").stdout.split())
        assert "Monitor worker: ok" in shown and "0 failed passes in a row (0 in all)" in shown

        scraped = wait_for(
            "the monitor's health on /metrics",
            lambda: (m := served.metrics()).get("llmgate_monitor_last_success_timestamp", 0) > 0 and m,
            timeout_s=60,
        )
        assert scraped["llmgate_monitor_failures_total"] == 0
        assert scraped["llmgate_monitor_last_success_timestamp"] > time.time() - 120
        ready = httpx.get(served.base + "/health/readiness", timeout=30).json()
        assert ready["status"] == "ready" and ready["monitor"]["status"] == "ok"
        assert "degraded" not in ready
    finally:
        served.stop()
        upstream.stop()


def test_failing_passes_alert_after_n_and_show_in_status_metrics_and_readiness(
    database_url: str, tmp_path: Path
) -> None:
    upstream = FakeUpstream().start()
    receiver = Receiver()
    # The monitor embeds through the upstream's own embeddings endpoint: no model to load, and a
    # real endpoint to take down.
    embedder = {"deployment": "text-embedding-3-small", "base_url": upstream.base_url}
    config = upstream_config(
        upstream,
        database_url=database_url,
        spill_dir=str(tmp_path / "spill"),
        alerts={"webhooks": [{"url": receiver.url}], "log": True},
        monitors=monitors(embedder=embedder),
    )
    served = Served(config, tmp_path)
    try:
        for i in range(3):
            served.ask(QA[i]["question"], QA[i]["knowledge"])
        wait_for(
            "a first good pass",
            lambda: (s := served.status()) and s["groups"] and s["monitor"]["last_success_at"],
        )

        upstream.down = True  # chat and embeddings answer 503 from now on
        for question in GENERAL[:3]:
            with pytest.raises(openai.APIStatusError):
                served.ask(question)  # recorded as an error: the monitor still has to embed it
        wait_for("the failing alert", lambda: "monitor.failing" in receiver.kinds(), timeout_s=120)
        failing = served.status()["monitor"]
        assert failing["status"] == "failing" and failing["consecutive_failures"] >= 3
        assert "503" in failing["last_error"] and failing["last_error"].startswith("sampling: ")
        assert failing["last_success_at"] is not None
        time.sleep(3)  # several more failed passes: still one alert for the streak
        assert receiver.kinds().count("monitor.failing") == 1
        alert = next(b for b in receiver.bodies if b["kind"] == "monitor.failing")
        assert alert["source"] == "monitor" and alert["severity"] == "critical"
        assert alert["details"]["consecutive_failures"] == 3

        shown = " ".join(served.cli("drift", "status").stdout.split())
        assert "Monitor worker: failing" in shown and "last error: sampling:" in shown
        scraped = wait_for(
            "the failures on /metrics",
            lambda: (m := served.metrics()).get("llmgate_monitor_failures_total", 0) >= 3 and m,
            timeout_s=60,
        )
        assert scraped["llmgate_monitor_consecutive_failures"] >= 3
        ready = httpx.get(served.base + "/health/readiness", timeout=30)
        assert ready.status_code == 200  # degraded, not unavailable: the gateway still serves
        assert ready.json()["monitor"]["status"] == "failing" and ready.json()["degraded"] == ["monitor"]

        upstream.down = False
        wait_for("the recovery", lambda: "monitor.failing.resolved" in receiver.kinds(), timeout_s=120)
        recovered = served.status()["monitor"]
        assert recovered["status"] == "ok" and recovered["consecutive_failures"] == 0
        assert recovered["failures_total"] >= 3
    finally:
        served.stop()
        receiver.close()
        upstream.stop()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def text_of(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    return str(messages[-1].get("content", ""))
