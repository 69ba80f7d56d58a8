"""The Monitors and Evals pages in a real headless Chromium, logged in with the admin key.

The shared dashboard gateway (``conftest.traffic``) has no monitor data: the Monitors page shows
its empty state; then monitor data is stored for one of its models (samples with vectors,
statistics, a scored RAG request) and the page draws it. Eval runs (one regressing against its baseline) are stored in its store here,
under suite names of their own; the Evals page draws them, marks the regression, and shows the
flipped cases side by side with their (hostile) outputs as text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from llmgate.store import evals as store
from llmgate.store import monitors as queries
from support.dashboard import Traffic, css, wait_for
from support.eval_runs import store_run

pytestmark = pytest.mark.slow


def add_monitor_data(engine: Any) -> None:
    """One monitored group: 61 samples (all in its reference), two evaluations, a scored RAG request."""
    rng = np.random.default_rng(3)
    now = datetime.now(UTC)

    def sample(record_id: str, at: datetime, centre: int, **extra: Any) -> dict[str, Any]:
        vector = np.eye(8)[centre] + rng.normal(0, 0.2, 8)
        return {
            "record_id": record_id,
            "created_at": at,
            "sampled_at": at,
            "model": "echo-small",
            "route": "chat/completions",
            "embedder": "test",
            "dim": 8,
            "prompt_vector": (vector / np.linalg.norm(vector)).astype(np.float32).tobytes(),
            "prompt_excerpt": f"<b>prompt</b> {record_id}",
            **extra,
        }

    old = [sample(f"ui-ref-{i}", now - timedelta(hours=5, seconds=-i), i % 2) for i in range(40)]
    new = [sample(f"ui-cur-{i}", now - timedelta(minutes=40, seconds=-i), 1) for i in range(20)]
    queries.insert_samples(engine, old + new)
    scores = {"context_relevance": 0.2, "groundedness": 0.1, "answer_relevance": 0.3}
    queries.insert_samples(engine, [sample("q" * 32, now - timedelta(minutes=10), 1, **scores)])
    for minutes, p_value in ((50, 0.5), (20, 0.001)):
        row = {
            "at": now - timedelta(minutes=minutes),
            "model": "echo-small",
            "route": "chat/completions",
            "kind": "prompt",
            "statistic": "mmd",
            "value": 0.1,
            "threshold": 0.01,
            "p_value": p_value,
            "breached": p_value < 0.01,
            "reference_n": 40,
            "current_n": 20,
            "details": {},
        }
        queries.insert_stats(engine, [row])


def test_monitors_and_evals_pages(browser: Any, traffic: Traffic) -> None:
    browser.get(traffic.url + "/ui/monitors")
    wait_for(lambda: "/ui/login" in browser.current_url, "the login page")
    css(browser, "#key")[0].send_keys(traffic.admin_key)
    css(browser, "#submit")[0].click()
    wait_for(lambda: browser.current_url.endswith("/ui/monitors"), "the Monitors page")
    empty = wait_for(lambda: css(browser, "#empty .empty"), "the empty state")[0]
    assert "No drift data yet" in empty.text and "llmgate monitor --config FILE" in empty.text
    assert "enabled: true" in empty.text
    assert "hidden" in (css(browser, "#content")[0].get_attribute("class") or "")

    engine = traffic.gateway.state.engine
    add_monitor_data(engine)
    browser.get(traffic.url + "/ui/monitors")
    wait_for(lambda: css(browser, '#drift-charts [data-statistic="prompt.mmd"] canvas'), "the drift charts")
    assert "breached" in css(browser, '#drift-charts [data-statistic="prompt.mmd"] h2')[0].text
    assert "drifts below 0.01" in css(browser, '#drift-charts [data-statistic="prompt.mmd"]')[0].text
    wait_for(lambda: browser.execute_script("return !!Chart.getChart('chart-projection')"), "the projection")
    sizes = browser.execute_script(
        "return Chart.getChart('chart-projection').data.datasets.map(function (d) { return d.data.length; });"
    )
    assert sizes == [61, 0]  # the default reference is the first 500 samples: all of them so far
    assert "No current prompts" in css(browser, "#projection-note")[0].text
    worst = wait_for(lambda: css(browser, "#worst tbody tr a"), "the worst requests")
    assert worst[0].get_attribute("href").endswith("/ui/requests/" + "q" * 32)
    assert "<b>" in css(browser, "#worst tbody td.preview")[0].text  # shown as text, not markup

    store_run(engine, "ui-run-1", "ui_suite", "echo-small", days_ago=2)
    store.set_baseline(engine, "ui_suite", "echo-small", "ui-run-1")
    store_run(engine, "ui-run-2", "ui_suite", "echo-small", days_ago=1, failing=8)
    browser.get(traffic.url + "/ui/evals?since=7d")
    wait_for(lambda: css(browser, 'tr[data-run="ui-run-2"]'), "the runs table")
    assert "regression" in (css(browser, 'tr[data-run="ui-run-2"]')[0].get_attribute("class") or "")
    drawn = browser.execute_script(
        "var c = Chart.getChart('chart-pass-rate'); return c ? c.data.datasets.length : 0;"
    )
    assert drawn >= 1
    # the regressed run is shown by default: its flipped cases side by side, outputs as text
    flips = wait_for(lambda: css(browser, "#flips .flip"), "the flipped cases")
    assert len(flips) == 8
    outputs = [node.text for node in css(browser, "#flips .flip .side pre.output")]
    assert outputs[:2] == ["Paris", "<script>alert(1)</script> Lyon"]
    assert (
        browser.execute_script("return window.alerted === undefined && document.title") == "Evals · llmgate"
    )
    assert "regression" in css(browser, "#verdict")[0].text
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
