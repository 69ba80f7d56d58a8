"""The Operations page in a real headless Chromium, on the shared dashboard gateway's traffic
(``conftest.traffic``) plus an alert stored here: the page draws the figures ``/ui/api/ops`` gives
for its range (the same report as ``llmgate report ops``), with no script error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from llmgate.store.models import table
from support.dashboard import MASTER, Traffic, css, wait_for

pytestmark = pytest.mark.slow


def log_in(driver: Any, traffic: Traffic, path: str) -> None:
    driver.get(traffic.url + path)
    wait_for(lambda: "/ui/login" in driver.current_url, "the login page")
    css(driver, "#key")[0].send_keys(traffic.admin_key)
    css(driver, "#submit")[0].click()
    wait_for(lambda: "/ui/login" not in driver.current_url, "leaving the login page")


def share(value: float | None) -> str:
    return "\u2013" if value is None else f"{value * 100:.2f}%"


def test_the_operations_page(browser: Any, traffic: Traffic) -> None:
    raised = datetime.now(UTC) - timedelta(hours=2)
    with traffic.engine.begin() as conn:
        conn.execute(
            sa.insert(table("alerts")).values(
                at=raised,
                source="eval",
                kind="eval.regression",
                severity="warning",
                title="a regression",
                details_json="{}",
                first_affected_at=raised - timedelta(minutes=12),
                resolved_at=raised + timedelta(hours=2, minutes=5),
            )
        )
    log_in(browser, traffic, "/ui/ops?since=24h")
    rows = wait_for(lambda: css(browser, "#groups tbody tr"), "the model groups")
    data = httpx.get(
        traffic.url + "/ui/api/ops?since=24h", headers={"Authorization": f"Bearer {MASTER}"}, timeout=30
    ).json()
    groups = data["availability"]["model_groups"]
    assert [r.find_elements("css selector", "td")[0].text for r in rows] == [g["name"] for g in groups]
    assert css(browser, '[data-metric="availability"] .value')[0].text == share(
        data["availability"]["total"]["availability"]
    )
    alert = next(
        r
        for r in css(browser, "#alerts tbody tr")
        if r.find_elements("css selector", "td")[0].text == "eval.regression"
    )
    cells = [td.text for td in alert.find_elements("css selector", "td")]
    assert cells[2] == "12 min" and cells[4] == "2 h 5 min"  # MTTD, MTTR
    assert css(browser, "#coverage-note")[0].text == "No scheduled eval ran in this range."
    nav = css(browser, '.topbar nav a[data-page="ops"]')[0]
    assert "active" in nav.get_attribute("class") and nav.text == "Operations"
    assert [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
