"""The dashboard's Canaries page in a real headless Chromium: the list of canaries, and for the one
picked its split, its steps over time, every gate's evidence with its bounds and the decision log;
store text (a gate's note, a pause's reason, both full of HTML) shown as text, never markup.

A gateway of its own (the dashboard tests' config, ``support.dashboard``) with canaries written
through the store's own functions (``support.canary_dashboard``).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from typing import Any

import pytest

from llmgate.store.canaries import canary_events
from llmgate.store.migrate import upgrade
from support.canary_dashboard import HOLD, ORDER, PAUSE_REASON, ROLLBACK, seed_canaries
from support.dashboard import HOSTILE, MASTER, css, gateway_config, wait_for
from support.gateway import RunningGateway

pytestmark = pytest.mark.slow
DASH = "\N{EN DASH}"  # what the page writes for a number it does not have


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    base = tmp_path_factory.mktemp("canary-page")
    config = gateway_config(f"sqlite:///{base / 'store.db'}")
    config["llmgate"]["spill_dir"] = str(base / "spill")
    (base / "spill").mkdir()
    # Another controller leads (it holds the lock this gateway's would take): the page shows the
    # store's canaries as seeded, never a fresh evaluation of the paused one by this gateway.
    with (base / "spill" / "canary-controller.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        gateway = RunningGateway(config, base)
        upgrade(gateway.state.engine)
        seed_canaries(gateway.state.engine)
        gateway.start()
        try:
            yield gateway
        finally:
            gateway.stop()


def _open(chrome: Any, gw: RunningGateway, path: str) -> None:
    chrome.get(gw.url + "/ui/login")
    chrome.delete_all_cookies()
    chrome.get_log("browser")  # drained, as the shared ``browser`` fixture does
    chrome.get(gw.url + "/ui/login?next=" + path)
    css(chrome, "#key")[0].send_keys(MASTER)
    css(chrome, "#submit")[0].click()
    wait_for(lambda: chrome.current_url.endswith(path), "the Canaries page")


def _text(chrome: Any, selector: str) -> str:
    return str(css(chrome, selector)[0].text)


def _fmt(value: float) -> str:
    """As the page writes a bound (at most 4 decimals, no trailing zeros)."""
    return f"{round(value, 4):g}"


def _digits(text: str) -> str:
    return text.replace(",", "").replace("\u202f", "").replace("\xa0", "")


def test_the_page_shows_a_canary_its_gates_with_their_bounds_and_its_decisions(
    chrome: Any, gw: RunningGateway
) -> None:
    _open(chrome, gw, "/ui/canaries")
    rows = wait_for(lambda: css(chrome, "#canaries tbody tr"), "the canaries")
    assert [r.get_attribute("data-canary") for r in rows] == ORDER
    assert "selected" in (rows[0].get_attribute("class") or "")  # it opens on the first active one
    wait_for(lambda: "paused-one" in _text(chrome, "#canary-title"), "the first canary")
    assert css(chrome, "#gates-empty .title")[0].text == "No evaluation yet."
    nav = [a.get_attribute("data-page") for a in css(chrome, ".topbar nav a.active")]
    assert nav == ["canaries"]

    css(chrome, '#canaries tr[data-canary="chat-v2"]')[0].click()
    wait_for(lambda: chrome.current_url.endswith("?canary=chat-v2"), "the canary in the URL")
    wait_for(lambda: "chat-v2" in _text(chrome, "#canary-title"), "the chosen canary")
    assert "chat-large → echo-small" in _text(chrome, "#canary-title")
    assert _text(chrome, '[data-metric="split"] .value') == "0% candidate"
    assert "100% stable" in _text(chrome, '[data-metric="split"] .sub')
    assert _text(chrome, '[data-metric="step"] .value') == "step 2 of 3"
    assert _text(chrome, '[data-metric="decision"] .value') == "rollback"
    assert _digits(_text(chrome, '[data-metric="evidence"] .value')) == "450 / 4050"

    # every gate of the last evaluation, with its verdict, effect, interval, tolerance and sizes
    gates = wait_for(lambda: css(chrome, "#gates tbody tr"), "the gates")
    assert [g.get_attribute("data-gate") for g in gates] == [g["name"] for g in ROLLBACK["gates"]]
    for row, gate in zip(gates, ROLLBACK["gates"], strict=True):
        cells = {
            c.get_attribute("data-field"): c.text for c in row.find_elements("css selector", "td[data-field]")
        }
        assert cells["verdict"] == gate["verdict"].replace("_", " ")
        assert _digits(cells["n"]) == f"{gate['n_candidate']} / {gate['n_stable']}"
        assert cells["tolerance"] == _fmt(gate["tolerance"])
        if gate["low"] is None:
            assert cells["interval"] == f"[{DASH}, {DASH}]" and cells["effect"] == DASH
            assert row.find_elements("css selector", "svg.interval") == []  # nothing to draw
        else:
            assert cells["interval"] == f"[{_fmt(gate['low'])}, {_fmt(gate['high'])}]"
            plot = row.find_elements("css selector", "svg.interval")
            assert len(plot) == 1  # the interval against zero and the tolerance line
            assert len(plot[0].find_elements("css selector", "line.tolerance")) == 1
            assert len(plot[0].find_elements("css selector", f"line.bound.{gate['verdict']}")) == 1
    failing = css(chrome, '#gates tr[data-gate="errors"]')[0]
    assert "gate-fail" in (failing.get_attribute("class") or "")
    assert failing.find_elements("css selector", "td.note")[0].text == ROLLBACK["gates"][0]["note"].strip()
    # the interval is drawn where its numbers say: the tolerance line left of the failing interval
    tolerance_x, low_x = chrome.execute_script(
        "var s = document.querySelector('#gates tr[data-gate=errors] svg.interval');"
        "return [+s.querySelector('line.tolerance').getAttribute('x1'), +s.querySelector('line.bound').getAttribute('x1')];"
    )
    assert tolerance_x < low_x

    # the decision log, newest first, every entry with who took it and why
    log = css(chrome, "#events tbody tr")
    engine = gw.state.engine
    stored = list(reversed(canary_events(engine, "chat-v2")))
    assert [r.get_attribute("data-action") for r in log] == [e["action"] for e in stored]
    pause = css(chrome, '#events tr[data-action="pause"] td.note')[0]
    assert pause.text == PAUSE_REASON.strip()
    assert "errors" in css(chrome, '#events tr[data-action="rollback"]')[0].text
    # store text is text: the hostile note and reason made no element and ran nothing
    assert css(chrome, "main img, main script") == []
    assert chrome.execute_script("return window.pwned === undefined && document.title !== 'pwned'")
    assert HOSTILE.split(">")[0] in _text(chrome, "#events")

    # the steps over time: one point per change of the split, then the end
    points = chrome.execute_script(
        "return Chart.getChart('chart-steps').data.datasets[0].data.map(function (p) { return p.y; });"
    )
    assert points == [10, 50, 50, 50, 0, 0]

    # an entry of the log with evidence shows that evaluation's gates
    evaluate = next(e for e in stored if e["action"] == "evaluate")
    css(chrome, f'#events tr[data-event="{evaluate["id"]}"]')[0].click()
    wait_for(lambda: f"decision #{evaluate['id']}" in _text(chrome, "#gates-title"), "the older evaluation")
    verdicts = [c.text for c in css(chrome, '#gates td[data-field="verdict"]')]
    assert verdicts == [g["verdict"].replace("_", " ") for g in HOLD["gates"]]
    severe = [e["message"] for e in chrome.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
