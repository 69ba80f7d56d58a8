"""The dashboard in a real headless Chromium: login, overview, request search and detail, spend CSV.

Traffic comes from ``conftest.traffic`` (sent through the gateway with the openai SDK). The CSV
downloaded by clicking the page's link must match ``llmgate report spend --format csv`` over the
same range, run through the CLI.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from llmgate.cli.main import app
from support.dashboard import MASTER, Traffic, css, wait_for

pytestmark = pytest.mark.slow


def log_in(driver: Any, traffic: Traffic, key: str = MASTER, path: str = "/ui/overview") -> None:
    driver.get(traffic.url + path)
    wait_for(lambda: "/ui/login" in driver.current_url, "the login page")
    css(driver, "#key")[0].send_keys(key)
    css(driver, "#submit")[0].click()
    wait_for(lambda: "/ui/login" not in driver.current_url, "leaving the login page")


def severe_console_messages(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_a_page_without_login_is_refused(browser: Any, traffic: Traffic) -> None:
    browser.get(traffic.url + "/ui/requests")
    wait_for(lambda: "/ui/login" in browser.current_url, "the redirect to the login page")
    assert "next=%2Fui%2Frequests" in browser.current_url
    assert not css(browser, "#rows")
    assert traffic.prompts["capital"] not in browser.page_source
    # the data API answers nothing either
    browser.get(traffic.url + "/ui/api/requests")
    assert "authentication_error" in browser.page_source
    assert traffic.prompts["capital"] not in browser.page_source


def test_a_wrong_key_is_refused(browser: Any, traffic: Traffic) -> None:
    browser.get(traffic.url + "/ui/login")
    css(browser, "#key")[0].send_keys("sk-not-the-master-key")
    css(browser, "#submit")[0].click()
    message = wait_for(lambda: css(browser, "#message")[0].text, "the refusal message")
    assert "does not open the dashboard" in message
    assert "/ui/login" in browser.current_url
    assert not browser.get_cookies()
    # a plain (non-admin) virtual key is refused the same way
    css(browser, "#key")[0].send_keys(traffic.plain_key)
    css(browser, "#submit")[0].click()
    wait_for(lambda: "does not open" in css(browser, "#message")[0].text, "the refusal message")
    assert not browser.get_cookies()


def test_log_in_and_see_the_overview(browser: Any, traffic: Traffic) -> None:
    log_in(browser, traffic)
    assert browser.current_url.endswith("/ui/overview")
    value = wait_for(lambda: css(browser, '[data-metric="requests"] .value')[0].text, "the requests total")
    assert int(value.replace(",", "")) == traffic.recorded
    error_rate = css(browser, '[data-metric="error_rate"] .sub')[0].text
    assert error_rate.startswith("2 errors")
    assert css(browser, '[data-metric="cost"] .value')[0].text.startswith("$")
    # four charts drawn by Chart.js on their canvases
    drawn = browser.execute_script(
        "return ['chart-requests','chart-latency','chart-tokens','chart-spend']"
        ".map(function (id) { return !!Chart.getChart(id); });"
    )
    assert drawn == [True, True, True, True]
    assert "Logged in as master" in css(browser, "#who")[0].text
    # the navigation has every page, Sessions, Monitors, Evals, Canaries and Operations included, and keeps
    # the range
    links = {a.get_attribute("data-page"): a.get_attribute("href") for a in css(browser, ".topbar nav a")}
    assert list(links) == [
        "overview",
        "spend",
        "requests",
        "sessions",
        "monitors",
        "evals",
        "canaries",
        "ops",
    ]
    css(browser, '[data-range="7d"]')[0].click()
    wait_for(lambda: "since=7d" in browser.current_url, "the range in the URL")
    wait_for(
        lambda: "since=7d" in css(browser, '.topbar nav a[data-page="spend"]')[0].get_attribute("href"), ""
    )
    browser.refresh()
    wait_for(lambda: "active" in css(browser, '[data-range="7d"]')[0].get_attribute("class"), "7d kept")
    assert severe_console_messages(browser) == []


def test_filter_requests_and_open_one(browser: Any, traffic: Traffic) -> None:
    log_in(browser, traffic, path="/ui/requests")
    rows = wait_for(lambda: css(browser, "#rows tr"), "the request rows")
    assert len(rows) == traffic.recorded
    # by model (the select submits the filter form)
    from selenium.webdriver.support.select import Select

    Select(css(browser, "#f-model")[0]).select_by_value("chat-large")
    wait_for(lambda: "model=chat-large" in browser.current_url, "the model filter in the URL")
    wait_for(lambda: len(css(browser, "#rows tr")) == 4, "4 chat-large rows")
    assert {r.get_attribute("data-model") for r in css(browser, "#rows tr")} == {"chat-large"}
    # by text, case-insensitively, in the prompt (or the response: chat-large answers "... capital of France.")
    css(browser, "#f-reset")[0].click()
    wait_for(lambda: len(css(browser, "#rows tr")) == traffic.recorded, "every row again")
    css(browser, "#f-q")[0].send_keys("capital OF FRANCE? answer")
    css(browser, "#f-apply")[0].click()
    wait_for(lambda: len(css(browser, "#rows tr")) == 1, "one row matching the text")
    row = css(browser, "#rows tr")[0]
    assert row.get_attribute("data-model") == "echo-small"
    assert traffic.prompts["capital"] in row.text
    # by status
    css(browser, "#f-reset")[0].click()
    Select(css(browser, "#f-status")[0]).select_by_value("error")
    wait_for(lambda: len(css(browser, "#rows tr")) == 2, "the two errors")
    assert {r.get_attribute("data-status") for r in css(browser, "#rows tr")} == {"error"}
    # open the text match's detail
    css(browser, "#f-reset")[0].click()
    wait_for(lambda: len(css(browser, "#rows tr")) == traffic.recorded, "every row again")
    css(browser, "#f-q")[0].send_keys("capital of france")
    css(browser, "#f-apply")[0].click()
    wait_for(lambda: len(css(browser, "#rows tr")) == 5, "the prompt and four answers")
    css(browser, "#f-q")[0].clear()
    css(browser, "#f-q")[0].send_keys("in one word")
    css(browser, "#f-apply")[0].click()
    wait_for(lambda: len(css(browser, "#rows tr")) == 1, "one row")
    css(browser, "#rows tr td a")[0].click()
    wait_for(lambda: "/ui/requests/" in browser.current_url, "the detail page")
    messages = wait_for(lambda: css(browser, "#messages .message .content"), "the messages")
    assert messages[0].text == traffic.prompts["capital"]
    assert "What is the capital of France" in css(browser, "#response .content")[0].text  # mock/echo
    attempts = css(browser, "#attempts tbody tr")
    assert len(attempts) == 1 and "echo-small" in attempts[0].text and "success" in attempts[0].text
    assert "echo-small" in css(browser, '[data-fact="model"]')[0].text
    assert "in /" in css(browser, '[data-fact="tokens"]')[0].text
    assert css(browser, '[data-fact="cost"] .v')[0].text.startswith("$")
    # back to the list, filters kept
    css(browser, "#back")[0].click()
    wait_for(lambda: css(browser, "#f-q")[0].get_attribute("value") == "in one word", "the filter kept")
    assert severe_console_messages(browser) == []


def test_team_request_detail_has_key_team_and_tags(browser: Any, traffic: Traffic) -> None:
    log_in(browser, traffic, path="/ui/requests?q=Team+question+number+2")
    wait_for(lambda: len(css(browser, "#rows tr")) == 1, "the team request")
    css(browser, "#rows tr td a")[0].click()
    wait_for(lambda: css(browser, '[data-fact="key"] .v')[0].text, "the facts")
    assert css(browser, '[data-fact="key"] .v')[0].text == f"search-bot ({traffic.team_key_id})"
    assert css(browser, '[data-fact="team"] .v')[0].text == "search"
    assert "feature=qa" in css(browser, '[data-fact="tags"] .v')[0].text
    roles = [r.text.lower() for r in css(browser, "#messages .message .role")]
    assert roles == ["system", "user"]


def test_untrusted_text_is_shown_not_run(browser: Any, traffic: Traffic) -> None:
    log_in(browser, traffic, path="/ui/requests?q=" + quote("<script>"))
    wait_for(lambda: len(css(browser, "#rows tr")) == 1, "the hostile request")
    assert "<img src=x" in css(browser, "#rows tr td.preview")[0].text
    css(browser, "#rows tr td a")[0].click()
    content = wait_for(lambda: css(browser, "#messages .message .content"), "the messages")
    assert content[0].text == traffic.prompts["hostile"]
    assert not css(browser, "#messages img, #response img, #messages script")
    assert browser.execute_script("return window.pwned === undefined && document.title !== 'pwned';")


def test_download_the_spend_csv_and_compare_with_the_cli(
    browser: Any, traffic: Traffic, browser_downloads: Path
) -> None:
    since = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    until = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    query = f"?since={quote(since.isoformat())}&until={quote(until.isoformat())}&group_by=team"
    log_in(browser, traffic, path="/ui/spend" + query)
    wait_for(lambda: css(browser, '[data-total="cost_usd"]'), "the spend table")
    assert "active" in css(browser, '[data-range="custom"]')[0].get_attribute("class")
    page_requests = int(css(browser, '[data-total="requests"]')[0].text.replace(",", ""))
    assert page_requests == traffic.recorded
    assert browser.execute_script("return !!Chart.getChart('chart-spend');")
    # the response cache's columns and cards (no hits in this traffic: nothing saved)
    assert css(browser, '[data-total="saved_usd"]')[0].text == "$0.00"
    assert css(browser, '[data-total="hit_rate"]')[0].text == "0%"
    assert {"saved", "hit_rate"} <= {c.get_attribute("data-metric") for c in css(browser, "#totals .card")}
    labels = [row.find_elements("css selector", "td")[0].text for row in css(browser, "#table tbody tr")]
    assert labels == ["search", "(none)"]

    for old in browser_downloads.iterdir():
        old.unlink()
    css(browser, "#csv")[0].click()
    done = wait_for(
        lambda: [p for p in browser_downloads.iterdir() if p.suffix == ".csv"], "the downloaded CSV"
    )
    downloaded = done[0].read_text()

    cli = CliRunner().invoke(
        app,
        [
            "report",
            "spend",
            "--config",
            str(traffic.config_path),
            "--since",
            since.isoformat(),
            "--until",
            until.isoformat(),
            "--group-by",
            "team",
            "--format",
            "csv",
        ],
    )
    assert cli.exit_code == 0, cli.output
    ours = list(csv.DictReader(io.StringIO(downloaded)))
    theirs = list(csv.DictReader(io.StringIO(cli.output)))
    assert ours[-1]["team"] == "TOTAL" and theirs[-1]["team"] == "TOTAL"
    assert ours[-1] == theirs[-1]
    assert int(ours[-1]["requests"]) == traffic.recorded
    assert ours == theirs  # every row, not only the totals

    # group by model and by tag from the page's controls
    from selenium.webdriver.support.select import Select

    Select(css(browser, "#group")[0]).select_by_value("model")
    wait_for(lambda: "group_by=model" in browser.current_url, "group by model")
    wait_for(lambda: len(css(browser, "#table tbody tr")) == 3, "three models")
    Select(css(browser, "#group")[0]).select_by_value("tag")
    wait_for(lambda: "group_by=tag%3Afeature" in browser.current_url, "group by the feature tag")
    wait_for(
        lambda: "qa" in [r.text.split("\n")[0].split(" ")[0] for r in css(browser, "#table tbody tr")], "qa"
    )
    assert "group_by=tag%3Afeature" in css(browser, "#csv")[0].get_attribute("href")
    assert severe_console_messages(browser) == []


def test_empty_range_says_what_to_do(browser: Any, traffic: Traffic) -> None:
    long_ago = quote("2020-01-01T00:00:00+00:00")
    until = quote("2020-01-02T00:00:00+00:00")
    log_in(browser, traffic, path=f"/ui/overview?since={long_ago}&until={until}")
    text = wait_for(lambda: css(browser, "#empty .empty")[0].text, "the empty state")
    assert "No requests in this range" in text
    assert traffic.url + "/v1" in text and "curl" in text
    browser.get(traffic.url + f"/ui/requests?since={long_ago}&until={until}&model=nope")
    text = wait_for(lambda: css(browser, "#empty .empty")[0].text, "the empty state")
    assert "No requests match these filters" in text


def test_log_out(browser: Any, traffic: Traffic) -> None:
    log_in(browser, traffic)
    wait_for(lambda: css(browser, '[data-metric="requests"]'), "the overview")
    css(browser, ".topbar form button")[0].click()
    wait_for(lambda: "/ui/login" in browser.current_url, "the login page")
    browser.get(traffic.url + "/ui/overview")
    wait_for(lambda: "/ui/login" in browser.current_url, "refused again")


def test_an_admin_key_logs_in(browser: Any, traffic: Traffic) -> None:
    log_in(browser, traffic, key=traffic.admin_key, path="/ui/spend")
    assert browser.current_url.endswith("/ui/spend")
    wait_for(lambda: "ops-admin" in css(browser, "#who")[0].text, "who is logged in")
