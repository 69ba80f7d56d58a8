"""The dashboard's Sessions page in a real headless Chromium: an agent's five-call run, sent through
the ``openai`` SDK with the session headers to a gateway on a fake upstream, is listed once with its
totals; opened, it shows the totals, a waterfall bar per call (in start order, each linking to its
request page) and the calls as a tree; a call's request page links back to the session. Session
ids are client text: one full of HTML is shown as text. No script error on the way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from e2e.test_agent_sessions import MODEL, PLAN, PRICE_IN, PRICE_OUT, chat
from llmgate.store.money import usd
from support.configs import MASTER_KEY, upstream_config
from support.dashboard import css, wait_for
from support.gateway import RunningGateway
from support.upstream import FakeUpstream

pytestmark = pytest.mark.slow
SESSION = "<img src=x onerror=\"document.title='pwned'\"> agent run"


@dataclass
class Run:
    gateway: RunningGateway
    ids: dict[str, str]
    prompt: int
    completion: int
    cost: Decimal


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    base = tmp_path_factory.mktemp("sessions-page")
    upstream = FakeUpstream().start()
    gateway = RunningGateway(upstream_config(upstream, database_url=f"sqlite:///{base / 'store.db'}"), base)
    gateway.start()
    try:
        client = gateway.client(MASTER_KEY)
        ids: dict[str, str] = {}
        prompt = completion = 0
        for n, (step, parent) in enumerate(PLAN):
            headers = {"x-llmgate-session-id": SESSION, "x-llmgate-step": step}
            if parent is not None:
                headers["x-llmgate-parent-id"] = ids[parent]
            raw = chat(client, f"{step}?" + " more" * n, headers)
            ids[step] = raw.headers["x-llmgate-request-id"]
            usage = raw.parse().usage
            prompt, completion = prompt + usage.prompt_tokens, completion + usage.completion_tokens
        chat(client, "not in the session", {})
        gateway.flush()
        yield Run(gateway, ids, prompt, completion, prompt * PRICE_IN + completion * PRICE_OUT)
    finally:
        gateway.stop()
        upstream.stop()


def open_page(chrome: Any, run: Run, path: str) -> None:
    chrome.get(run.gateway.url + "/ui/login")
    chrome.delete_all_cookies()
    chrome.get_log("browser")
    chrome.get(run.gateway.url + "/ui/login?next=" + path)
    css(chrome, "#key")[0].send_keys(MASTER_KEY)
    css(chrome, "#submit")[0].click()
    wait_for(lambda: "/ui/sessions" in chrome.current_url, "the Sessions page")


def card(chrome: Any, metric: str) -> str:
    return str(css(chrome, f'#totals [data-metric="{metric}"] .value')[0].text)


def test_the_sessions_page_shows_the_run_its_timeline_and_totals(chrome: Any, run: Run) -> None:
    open_page(chrome, run, "/ui/sessions")
    rows = wait_for(lambda: css(chrome, "#session-rows tr"), "the sessions")
    assert [r.get_attribute("data-session") for r in rows] == [SESSION]  # the call outside is in none
    cells = [td.text for td in rows[0].find_elements("css selector", "td")]
    assert cells[0] == SESSION and cells[3] == "5" and cells[4] == "0" and cells[6] == MODEL
    assert cells[7] == f"{run.prompt:,} / {run.completion:,}" and cells[8] == usd(run.cost)
    nav = css(chrome, '.topbar nav a[data-page="sessions"]')[0]
    assert "active" in (nav.get_attribute("class") or "") and nav.text == "Sessions"

    rows[0].find_elements("css selector", "a")[0].click()
    calls = wait_for(
        lambda: len(css(chrome, "#call-rows tr")) == 5 and css(chrome, "#call-rows tr"), "the calls"
    )
    assert css(chrome, "#session-id")[0].text == SESSION and chrome.title != "pwned"
    assert [c.get_attribute("data-id") for c in calls] == [run.ids[step] for step, _ in PLAN]
    assert [c.get_attribute("data-depth") for c in calls] == ["0", "1", "2", "2", "1"]
    assert [c.find_elements("css selector", "td")[0].text for c in calls] == [
        "plan",
        "└─ search",
        "   └─ read-a",
        "   └─ read-b",
        "└─ answer",
    ]
    assert (card(chrome, "calls"), card(chrome, "cost")) == ("5", usd(run.cost))
    assert card(chrome, "tokens") == f"{run.prompt:,} / {run.completion:,}"
    total = [td.text for td in css(chrome, "#call-total td")]
    assert (
        total[1] == "5 calls"
        and total[4] == f"{run.prompt:,} / {run.completion:,}"
        and total[5] == usd(run.cost)
    )

    # the waterfall: a bar per call, in start order, each a link to the call's request page
    links = css(chrome, "#waterfall svg a")
    assert [a.get_attribute("data-id") for a in links] == [run.ids[step] for step, _ in PLAN]
    starts = [float(a.find_elements("css selector", "rect")[0].get_attribute("x")) for a in links]
    order = sorted(range(5), key=lambda i: starts[i])
    assert [starts[i] for i in order] == sorted(starts) and starts[0] == min(starts)  # the plan first
    assert all(float(a.find_elements("css selector", "rect")[0].get_attribute("width")) >= 2 for a in links)

    # a call's detail, and back to its session
    calls[2].find_elements("css selector", "a")[0].click()
    wait_for(lambda: chrome.current_url.endswith("/ui/requests/" + run.ids["read-a"]), "the request page")
    fact = wait_for(lambda: css(chrome, '[data-fact="session"]'), "the session fact")[0]
    assert SESSION in fact.text and "step read-a" in fact.text
    assert [e["message"] for e in chrome.get_log("browser") if e["level"] == "SEVERE"] == []
