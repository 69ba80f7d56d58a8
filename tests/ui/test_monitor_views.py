"""The dashboard's Monitors page opens on the group that needs looking at, and a request's page
shows the context it retrieved: the JSON the pages read over real HTTP, then the pages in a real
headless Chromium.

A gateway of its own (the dashboard tests' config, ``support.dashboard``), so the traffic and the
monitor data here do not change what the shared dashboard gateway's tests count: RAG requests
sent with the openai SDK (passages in ``metadata.context``, one of them hostile HTML, and in the
``x-llmgate-context`` header), a plain one; and monitor groups written through the store's own
functions, whose alphabetical first is healthy and whose last is alerting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from llmgate.store import monitors as queries
from llmgate.store.migrate import upgrade
from support.dashboard import HOSTILE, MASTER, css, gateway_config, wait_for
from support.gateway import RunningGateway

ROUTE = "chat/completions"
AUTH = {"Authorization": f"Bearer {MASTER}"}
PASSAGES = ["Paris is the capital and largest city of France.", HOSTILE]
HEADER_PASSAGES = ["The Seine flows through Paris."]
#: alphabetically first to last; the status each ends up with
GROUPS = {"aardvark-bot": "ok", "collect-bot": "collecting", "middle-bot": "drifted", "zebra-bot": "alerting"}


@dataclass
class Views:
    gateway: RunningGateway
    rag_id: str
    header_id: str
    plain_id: str


def _ask(gateway: RunningGateway, question: str, **extra: Any) -> str:
    raw = gateway.client(MASTER).chat.completions.with_raw_response.create(
        model="chat-large", messages=[{"role": "user", "content": question}], **extra
    )
    return str(raw.headers["x-llmgate-request-id"])


def _monitor_data(engine: Any) -> None:
    now = datetime.now(UTC)
    vector = bytes(4 * 8)
    samples = [
        {
            "record_id": f"{model}-{i}",
            "created_at": now - timedelta(minutes=10, seconds=i),
            "sampled_at": now,
            "model": model,
            "route": ROUTE,
            "embedder": "test",
            "dim": 8,
            "prompt_vector": vector,
            "prompt_excerpt": f"prompt {i}",
        }
        for model in GROUPS
        for i in range(3)
    ]
    queries.insert_samples(engine, samples)
    for model, status in GROUPS.items():
        if status == "collecting":
            continue
        queries.insert_stats(
            engine,
            [
                {
                    "at": now - timedelta(minutes=5),
                    "model": model,
                    "route": ROUTE,
                    "kind": "prompt",
                    "statistic": "mmd",
                    "value": 0.05,
                    "threshold": 0.01,
                    "p_value": 0.001 if status != "ok" else 0.5,
                    "breached": status != "ok",
                    "reference_n": 40,
                    "current_n": 40,
                    "details": {},
                }
            ],
        )
    queries.open_condition(
        engine,
        {
            "model": "zebra-bot",
            "route": ROUTE,
            "condition": "drift.prompt",
            "active": True,
            "started_at": now - timedelta(minutes=6),
            "raised_at": now - timedelta(minutes=5),
            "clean_streak": 0,
            "details": {"breached": ["mmd"]},
        },
    )


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Views]:
    base = tmp_path_factory.mktemp("views")
    gateway = RunningGateway(gateway_config(f"sqlite:///{base / 'store.db'}"), base).start()
    try:
        upgrade(gateway.state.engine)
        rag_id = _ask(gateway, "What is the capital of France?", metadata={"context": PASSAGES})
        header_id = _ask(
            gateway,
            "Which river flows through Paris?",
            extra_headers={"x-llmgate-context": json.dumps(HEADER_PASSAGES)},
        )
        plain_id = _ask(gateway, "Say hello.")
        gateway.flush()
        _monitor_data(gateway.state.engine)
        yield Views(gateway, rag_id, header_id, plain_id)
    finally:
        gateway.stop()


def _get(views: Views, path: str) -> Any:
    response = httpx.get(views.gateway.url + path, headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_monitors_data_lists_alerting_then_drifted_groups_first(views: Views) -> None:
    groups = _get(views, "/ui/api/monitors/drift?since=24h")["groups"]
    assert [(g["model"], g["status"]) for g in groups] == [
        ("zebra-bot", "alerting"),
        ("middle-bot", "drifted"),
        ("aardvark-bot", "ok"),
        ("collect-bot", "collecting"),
    ]


def test_a_request_carries_the_context_it_retrieved(views: Views) -> None:
    rag = _get(views, f"/ui/api/requests/{views.rag_id}")
    assert rag["retrieved_context"] == {
        "source": "metadata",
        "from": "metadata.context",
        "passages": PASSAGES,
    }
    header = _get(views, f"/ui/api/requests/{views.header_id}")
    assert header["retrieved_context"] == {
        "source": "header",
        "from": "the x-llmgate-context header",
        "passages": HEADER_PASSAGES,
    }
    assert _get(views, f"/ui/api/requests/{views.plain_id}")["retrieved_context"] is None


@pytest.mark.slow
def test_the_pages_open_on_the_alerting_group_and_show_the_context_as_text(chrome: Any, views: Views) -> None:
    url = views.gateway.url
    chrome.get(url + "/ui/login")
    chrome.delete_all_cookies()
    chrome.get_log("browser")  # drained, as the shared ``browser`` fixture does
    chrome.get(url + "/ui/login?next=/ui/monitors")
    css(chrome, "#key")[0].send_keys(MASTER)
    css(chrome, "#submit")[0].click()
    wait_for(lambda: chrome.current_url.endswith("/ui/monitors"), "the Monitors page")
    wait_for(lambda: css(chrome, "#group option"), "the groups")
    assert css(chrome, "#group")[0].get_attribute("value") == "zebra-bot · " + ROUTE
    assert css(chrome, "#groups .card")[0].get_attribute("data-group") == "zebra-bot · " + ROUTE

    chrome.get(url + "/ui/requests/" + views.rag_id)
    passages = wait_for(lambda: css(chrome, "#context [data-passage] .content"), "the retrieved context")
    assert [p.text for p in passages] == [PASSAGES[0], HOSTILE.strip()]
    assert "hidden" not in (css(chrome, "#context-panel")[0].get_attribute("class") or "")
    assert "2 passages, from metadata.context" in css(chrome, "#context-note")[0].text
    assert css(chrome, "#context img, #context script") == []  # text, never markup
    assert chrome.execute_script("return window.pwned === undefined && document.title !== 'pwned'")

    chrome.get(url + "/ui/requests/" + views.plain_id)
    wait_for(lambda: css(chrome, '[data-fact="model"] .v'), "the plain request")
    assert "hidden" in (css(chrome, "#context-panel")[0].get_attribute("class") or "")
    severe = [e["message"] for e in chrome.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
