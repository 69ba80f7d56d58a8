"""End to end: ``llmgate serve`` with the monitor enabled, real traffic through the openai SDK, a
domain switch mid-stream, and a webhook receiver on loopback that gets exactly one alert.

The gateway runs as its own process and starts ``llmgate monitor`` beside it; the first 70 prompts
are questions from the shared HaluEval QA rows (the first 60 become the reference), then the
traffic switches to general assistant queries. The receiver must get one ``drift.prompt`` alert
whose first drifted record is one of the post-switch requests, with its detection delay; more
drifted traffic after the alert raises nothing more (deduplication).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from support.configs import MASTER_KEY, upstream_config
from support.gateway import start_serve, wait_healthy
from support.shared_data import load_rows
from support.upstream import FakeUpstream
from support.webhook import Receiver

pytest.importorskip("sentence_transformers")
pytest.importorskip("faiss")


def _rows(name: str) -> list[dict[str, Any]]:
    return load_rows(name)


def _monitor_children(config_path: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"monitor --config {config_path}"], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def test_domain_switch_raises_exactly_one_alert_with_its_detection_delay(tmp_path: Path) -> None:
    upstream = FakeUpstream(reply=lambda body: "Here is what I found.").start()
    receiver = Receiver()
    config = upstream_config(
        upstream,
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        spill_dir=str(tmp_path / "spill"),
        alerts={"webhooks": [{"url": receiver.url}], "log": True},
        monitors={
            "enabled": True,
            "interval_s": 0.5,
            "settle_s": 0.2,
            "lookback_s": 60,
            "drift": {"window": "60", "reference_size": 60, "min_samples": 40},
        },
    )
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    process, base = start_serve(config_path)
    try:
        wait_healthy(base)
        from openai import OpenAI

        client = OpenAI(base_url=base + "/v1", api_key=MASTER_KEY, max_retries=0)

        def ask(question: str) -> str:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
            )
            return raw.headers["x-llmgate-request-id"]

        for row in _rows("halueval_qa_dev.jsonl")[:70]:
            ask(row["question"])
        # Let the monitor load its model and sample the reference: the delay measured below is
        # then the steady-state one, not a cold start's.
        headers = {"Authorization": f"Bearer {MASTER_KEY}"}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            # Until the monitor has migrated the store, the status endpoint may answer an error.
            answer = httpx.get(base + "/admin/monitors/drift/status", headers=headers, timeout=30)
            groups = answer.json().get("groups", []) if answer.status_code == 200 else []
            if groups and groups[0]["samples"] >= 70:
                break
            time.sleep(0.25)
        general = [row["user_query"] for row in _rows("halueval_general_dev.jsonl")]
        switched_at = time.time()
        after_switch = [ask(query) for query in general[:120]]

        deadline = time.monotonic() + 240
        while not receiver.bodies and time.monotonic() < deadline:
            time.sleep(0.25)
        assert receiver.bodies, "no alert reached the webhook"
        # More drifted traffic and several more passes: the open condition raises nothing new.
        after_switch += [ask(query) for query in general[120:160]]
        time.sleep(4)

        assert len(receiver.bodies) == 1, [b["kind"] for b in receiver.bodies]
        alert = receiver.bodies[0]
        assert alert["source"] == "drift" and alert["kind"] == "drift.prompt"
        details = alert["details"]
        assert details["model"] == "gpt-4o-mini" and details["route"] == "chat/completions"
        assert "mmd" in details["breached"] and "ood_rate" in details["breached"]
        assert details["first_drifted_record"] in after_switch
        first = datetime.fromisoformat(details["first_drifted_at"]).timestamp()
        raised = datetime.fromisoformat(alert["at"]).timestamp()
        assert first >= switched_at - 0.01
        assert details["detection_delay_s"] == pytest.approx(raised - first, abs=0.01)
        assert 0 < details["detection_delay_s"] < 240
        print(
            f"\nmonitor e2e: detection delay {details['detection_delay_s']:.2f} s; breached {details['breached']}"
        )

        status = httpx.get(base + "/admin/monitors/drift/status", headers=headers, timeout=30).json()
        group = next(g for g in status["groups"] if g["model"] == "gpt-4o-mini")
        assert group["status"] == "alerting"
        assert group["open_conditions"][0]["condition"] == "drift.prompt"
        assert httpx.get(base + "/admin/monitors/drift/status", timeout=30).status_code == 401

        env = {**os.environ, "LLMGATE_CONFIG": str(config_path)}
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "llmgate.cli.main",
                "drift",
                "report",
                "--model",
                "gpt-4o-mini",
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert cli.returncode == 1, cli.stderr  # drifted: exit 1, for cron and CI
        report = json.loads(cli.stdout)["groups"][0]
        prompt_stats = {s["name"]: s for s in report["statistics"] if s["kind"] == "prompt"}
        assert set(prompt_stats) >= {"centroid_shift", "mmd", "psi", "domain_classifier", "ood_rate"}
        assert prompt_stats["ood_rate"]["breached"]
        assert report["clusters"][0]["current_example"] in general[:160]
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        receiver.close()
        upstream.stop()
    # The monitor child stops with the gateway.
    for _ in range(50):
        if not _monitor_children(config_path):
            break
        time.sleep(0.1)
    assert not _monitor_children(config_path)
