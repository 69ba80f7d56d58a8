"""The operations report over real HTTP: ``GET /ui/api/ops`` (the dashboard's Operations page) and
``GET /admin/report/ops`` (JSON and CSV), on traffic sent with the ``openai`` SDK through a gateway
whose primary upstream fails on cue, so the records carry real retries and fallbacks (their
attempts name their model group), and alerts stored as the monitors store them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from llmgate.store.migrate import upgrade
from llmgate.store.models import table
from support.configs import MASTER_KEY
from support.gateway import RunningGateway
from support.keys import add_key
from support.upstream import FakeUpstream, Fault

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
MESSAGES = [{"role": "user", "content": "Say hi"}]
#: the alert the store holds: its condition began 30 min before it and cleared 25 min after it
DETECT_S, RESOLVE_S = 1800, 1500


def entry(name: str, ident: str, api_base: str) -> dict[str, Any]:
    return {
        "model_name": name,
        "model_info": {"id": ident},
        "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": api_base, "api_key": "sk-upstream-key"},
    }


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("ops")
    primary, backup = FakeUpstream().start(), FakeUpstream().start()
    config = {
        "model_list": [
            entry("chat", "primary", primary.base_url),
            entry("backup", "backup", backup.base_url),
        ],
        "router_settings": {"num_retries": 1, "fallbacks": [{"chat": ["backup"]}], "allowed_fails": 100},
        "general_settings": {"master_key": MASTER_KEY},
        "llmgate": {"database_url": f"sqlite:///{base / 'store.db'}", "recorder": {"process": False}},
    }
    gateway = RunningGateway(config, base).start()
    try:
        engine = gateway.state.engine
        upgrade(engine)
        client = gateway.client(MASTER_KEY)
        for _ in range(2):  # answered at once
            client.chat.completions.create(model="chat", messages=MESSAGES)
        primary.fail_next(Fault(status=502))  # answered by the retry on the same group
        client.chat.completions.create(model="chat", messages=MESSAGES)
        primary.fail_next(Fault(status=500), times=2)  # both tries fail: the backup group answers
        client.chat.completions.create(model="chat", messages=MESSAGES)
        gateway.flush()
        _store_alert(engine, datetime.now(UTC) - timedelta(hours=1))
        gateway.admin_key, _ = add_key(engine, "ops-admin", admin=True)
        gateway.plain_key, _ = add_key(engine, "app")
        yield gateway
    finally:
        gateway.stop()
        primary.stop()
        backup.stop()


def _store_alert(engine: Any, raised: datetime) -> None:
    with engine.begin() as conn:
        alert_id = conn.execute(
            sa.insert(table("alerts")).values(
                at=raised,
                source="drift",
                kind="drift.prompt",
                severity="warning",
                title="t",
                details_json="{}",
            )
        ).inserted_primary_key[0]
        conn.execute(
            sa.insert(table("monitor_conditions")).values(
                model="chat",
                route="chat/completions",
                condition="drift.prompt",
                active=False,
                started_at=raised - timedelta(seconds=DETECT_S),
                raised_at=raised,
                alert_id=alert_id,
                resolved_at=raised + timedelta(seconds=RESOLVE_S),
            )
        )


def get(gw: RunningGateway, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(gw.url + path, headers=AUTH if headers is None else headers, timeout=60)


def check(data: dict[str, Any]) -> None:
    (chat,) = [g for g in data["availability"]["model_groups"] if g["name"] == "chat"]
    # four requests, all answered; two at the first attempt; one retry, one fallback (after its retry)
    assert (chat["requests"], chat["succeeded"], chat["succeeded_first_try"]) == (4, 4, 2)
    assert (chat["availability"], chat["availability_without_fallbacks"]) == (1.0, 0.5)
    assert (chat["with_fallback"], chat["with_retry"]) == (1, 2)
    assert (chat["fallback_rate"], chat["retry_rate"]) == (0.25, 0.5)
    deployments = {d["name"]: d for d in data["availability"]["deployments"]}
    assert (deployments["primary"]["requests"], deployments["backup"]["requests"]) == (3, 1)
    (alert,) = data["alerts"]["kinds"]
    assert (alert["kind"], alert["mttd_s"], alert["mttr_s"]) == ("drift.prompt", DETECT_S, RESOLVE_S)
    assert data["coverage"] == {
        "requests": 4,
        "sampled": 0,
        "sampled_share": 0.0,
        "eval_covered": 0,
        "eval_share": 0.0,
        "eval_models": [],
    }


def test_the_dashboard_data(gw: RunningGateway) -> None:
    response = get(gw, "/ui/api/ops?since=1d")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    check(response.json())
    # the default range is the last 24 hours, as on every page
    check(get(gw, "/ui/api/ops").json())


def test_the_admin_api_json_and_csv(gw: RunningGateway) -> None:
    for key in (MASTER_KEY, gw.admin_key):
        response = get(gw, "/admin/report/ops?since=1d", {"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
        check(response.json())
    response = get(gw, "/admin/report/ops?since=1d&format=csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    figures = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
    assert figures[("model_groups", "chat", "retry_rate")] == "0.5"
    assert figures[("alerts", "drift.prompt", "mttr_s")] == f"{RESOLVE_S}.0"


def test_an_empty_window(gw: RunningGateway) -> None:
    data = get(gw, "/admin/report/ops?since=2020-01-01&until=2020-01-02").json()
    assert data["alerts"]["kinds"] == [] and data["availability"]["total"]["availability"] is None


def test_bad_ranges_are_400_in_openai_shape(gw: RunningGateway) -> None:
    for path in ("/admin/report/ops?since=soon", "/ui/api/ops?since=soon"):
        response = get(gw, path)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == "since"
        assert error["message"].startswith("since: expected e.g.")
    response = get(gw, "/admin/report/ops?since=1d&until=2d")
    assert response.status_code == 400 and response.json()["error"]["param"] == "until"
    assert get(gw, "/admin/report/ops").status_code in (400, 422)  # since is required
    for path in ("/admin/report/ops?since=", "/admin/report/ops?since=&format=csv"):  # and not empty
        response = get(gw, path)
        assert response.status_code == 400 and response.json()["error"]["param"] == "since", response.text


def test_only_admins(gw: RunningGateway) -> None:
    plain = {"Authorization": f"Bearer {gw.plain_key}"}
    assert get(gw, "/admin/report/ops?since=1d", plain).status_code == 403
    assert get(gw, "/ui/api/ops?since=1d", plain).status_code in (401, 403)
    assert get(gw, "/admin/report/ops?since=1d", {}).status_code == 401
    assert get(gw, "/ui/api/ops", {}).status_code == 401


def test_the_page_is_served_and_in_the_navigation(gw: RunningGateway) -> None:
    page = httpx.get(gw.url + "/ui/ops", headers=AUTH, timeout=30)
    assert page.status_code == 200 and "<h1>Operations</h1>" in page.text and "/ui/static/ops.js" in page.text
    script = httpx.get(gw.url + "/ui/static/ops.js", timeout=30)
    assert script.status_code == 200 and "/ui/api/ops" in script.text
    common = httpx.get(gw.url + "/ui/static/common.js", timeout=30).text
    assert '["ops", "Operations"]' in common
