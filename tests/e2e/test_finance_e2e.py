"""What finance sees of real traffic, through real HTTP with the openai SDK (issue 15, items 5 and 6).

- A budget's 429 says what was spent of what, in words for people ("spent $0.00004 of $0.00001
  today"), not "$0.0000100000 this day period".
- The spend report splits the recorded requests into succeeded, failed (the upstream's errors) and
  rejected (refused by the gateway before any upstream was called: 429 budget and rate limit, 403,
  404), and the three add up to ``requests``.

The fake upstream answers every chat with 16 prompt and 8 completion tokens; at the test config's
prices each call costs exactly 0.00004 USD.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from e2e.test_proxy import MESSAGES
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.keys import add_key
from support.upstream import FakeUpstream, Fault


@pytest.fixture
def gateway(upstream: FakeUpstream, gateway_factory: Any) -> RunningGateway:
    config = upstream_config(upstream)
    config["router_settings"] = {"num_retries": 0, "allowed_fails": 100}
    return gateway_factory(config)  # type: ignore[no-any-return]


def ask(gateway: RunningGateway, key: str, model: str = "gpt-4o-mini") -> Any:
    return gateway.client(key).chat.completions.create(model=model, messages=MESSAGES)


@pytest.mark.parametrize(
    ("period", "words"), [("daily", "today"), ("weekly", "this week"), ("monthly", "this month")]
)
def test_the_budget_429_reads_for_people(gateway: RunningGateway, period: str, words: str) -> None:
    key, key_id = add_key(gateway.state.engine, "tiny", budget_usd="0.00001", budget_period=period)
    ask(gateway, key)  # money was left: it runs, and spends 0.00004
    with pytest.raises(openai.RateLimitError) as over:
        ask(gateway, key)
    body = over.value.body
    assert isinstance(body, dict) and body["type"] == "budget_exceeded"
    assert body["message"] == f"Budget exceeded for key '{key_id}': spent $0.00004 of $0.00001 {words}."


def test_spend_splits_succeeded_failed_and_rejected(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    engine = gateway.state.engine
    key, key_id = add_key(engine, "split", models=["gpt-4o-mini"], rpm=4)
    broke, broke_id = add_key(engine, "broke", budget_usd="0.00001")
    ask(gateway, key)  # 200
    upstream.fail_next(Fault(status=500))
    with pytest.raises(openai.InternalServerError):  # the upstream's 500, passed on as 502
        ask(gateway, key)
    with pytest.raises(openai.PermissionDeniedError):  # 403: a model the key may not use
        ask(gateway, key, model="mock-echo")
    ask(gateway, key)  # 200, the fourth request this minute
    with pytest.raises(openai.RateLimitError):  # 429: the fifth is over rpm 4
        ask(gateway, key)
    ask(gateway, broke)  # 200, and the budget is spent
    with pytest.raises(openai.RateLimitError):  # 429 budget_exceeded
        ask(gateway, broke)
    with pytest.raises(openai.NotFoundError):  # 404 with the master key: no such model
        ask(gateway, MASTER_KEY, model="no-such-model")
    gateway.flush()

    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    response = gateway.get("/admin/spend/report", params={"since": "1h", "group_by": "key"}, headers=auth)
    assert response.status_code == 200, response.text
    report = response.json()
    split = {
        row["key_id"]: (row["requests"], row["succeeded"], row["failed"], row["rejected"])
        for row in report["rows"]
    }
    assert split == {key_id: (5, 2, 1, 2), broke_id: (2, 1, 0, 1), None: (1, 0, 0, 1)}
    totals = report["totals"]
    assert (totals["requests"], totals["succeeded"], totals["failed"], totals["rejected"]) == (8, 3, 1, 4)

    csv = gateway.get("/admin/spend/report", params={"since": "1h", "format": "csv"}, headers=auth).text
    assert csv.splitlines() == [
        "requests,input_tokens,output_tokens,cost_usd,succeeded,failed,rejected,saved_usd,hit_rate",
        "8,48,24,0.0001200000,3,1,4,0.0000000000,0.0",
    ]
