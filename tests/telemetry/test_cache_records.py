"""The response cache in the records: a hit's row (cost 0, ``saved_usd`` at today's prices), the
degraded and replayed forms that keep it, the budget a hit settles, and the cache counters on
``/metrics`` (the Prometheus text, read back with prometheus_client's parser)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmgate.config import build_deployments, parse_config
from llmgate.gateway import Gateway
from llmgate.pricing import PriceBook
from llmgate.recording.degrade import degraded_call_row, degraded_row
from llmgate.store.records import rehydrate_row
from llmgate.telemetry.call_record import Attempt, CallRecord, to_row
from llmgate.telemetry.metrics import CallMetrics
from llmgate.telemetry.prometheus import Exposition
from support.configs import PRICED_GPT

CONFIG = {
    "model_list": [
        PRICED_GPT,  # $1 per million input tokens, $2 per million output tokens
        {"model_name": "private", "litellm_params": {"model": "hosted_vllm/secret-sauce-7b"}},
    ]
}
GPT, PRIVATE = build_deployments(parse_config(CONFIG))
PRICES = PriceBook()
ANSWER = {
    "id": "chatcmpl-1",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
}
#: 1000 input tokens at $0.000001 and 500 output tokens at $0.000002
PRICE = Decimal("0.002")
KEY = "c" * 64


def call(cache: str | None, **kwargs: Any) -> CallRecord:
    base: dict[str, Any] = {
        "id": "d" * 32,
        "created_at": datetime(2026, 12, 8, 9, 0, tzinfo=UTC),
        "endpoint": "chat/completions",
        "model": "gpt",
        "request": {"model": "gpt", "messages": [{"role": "user", "content": "Capital of France?"}]},
        "stream": False,
        "deployment": GPT,
        "team_id": "search",
        "response_body": orjson.dumps(ANSWER),
        "latency_ms": 0.4,
        "cache": cache,
        "cache_key": KEY if cache is not None else None,
    }
    if cache in (None, "miss", "bypass"):  # the upstream answered
        base["attempts"] = [Attempt(GPT.id, "openai", "success", 300.0, status_code=200)]
    return CallRecord(**{**base, **kwargs})


def cache_of(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["cache_hit"], row["cache"], row["cache_key"], row["cache_similarity"])


def test_a_hit_costs_nothing_and_saves_what_the_call_costs_today() -> None:
    row = to_row(call("hit"), PRICES)
    assert cache_of(row) == (True, "hit", KEY, None)
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (1000, 500, 1500)
    assert row["cost_usd"] == 0 and row["cost_unknown"] is False
    assert row["saved_usd"] == PRICE
    assert row["response_text"] == "Paris." and row["attempts"] == 0 and row["deployment"] == GPT.id


def test_a_semantic_hit_keeps_its_entry_and_similarity() -> None:
    row = to_row(call("semantic-hit", cache_similarity=0.9612), PRICES)
    assert cache_of(row) == (True, "semantic-hit", KEY, 0.9612)
    assert (row["cost_usd"], row["saved_usd"]) == (0, PRICE)


@pytest.mark.parametrize("cache", ["miss", "bypass", None])
def test_a_call_the_upstream_answered_costs_its_price_and_saves_nothing(cache: str | None) -> None:
    row = to_row(call(cache), PRICES)
    assert cache_of(row) == (False, cache, KEY if cache else None, None)
    assert (row["cost_usd"], row["saved_usd"]) == (PRICE, None)


def test_a_hit_without_a_known_price_costs_nothing_and_saves_an_unknown_amount() -> None:
    row = to_row(call("hit", deployment=PRIVATE, model="private"), PRICES)
    assert (row["cost_usd"], row["saved_usd"], row["cost_unknown"]) == (0, None, True)
    assert row["prompt_tokens"] == 1000


def test_a_streamed_hit_counts_the_replayed_chunks() -> None:
    events = [
        {"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Par"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"content": "is."}, "finish_reason": "stop"}]},
        {"id": "c", "choices": [], "usage": ANSWER["usage"]},
    ]
    chunks = [b"data: " + orjson.dumps(e) + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]
    row = to_row(call("hit", stream=True, response_body=None, stream_chunks=chunks), PRICES)
    assert row["response_text"] == "Paris." and row["total_tokens"] == 1500
    assert (row["cost_usd"], row["saved_usd"], row["cache_hit"]) == (0, PRICE, True)


def test_degraded_and_replayed_rows_keep_the_cache_columns() -> None:
    hit = call("semantic-hit", cache_similarity=0.95)
    row = to_row(hit, PRICES)
    for degraded in (
        degraded_row(row, "insert (DataError)"),
        degraded_row(row, "insert (DataError)", strict=True),
        degraded_call_row(hit, PRICES, "to_row (RecursionError)"),
    ):
        assert cache_of(degraded) == (True, "semantic-hit", KEY, 0.95)
        assert (degraded["cost_usd"], degraded["saved_usd"]) == (0, PRICE)
    # a spill file keeps rows as JSON; replayed, each column has its type again
    spilled = orjson.loads(orjson.dumps(row, default=str))
    assert isinstance(spilled["saved_usd"], str)
    back = rehydrate_row(spilled)
    assert back["saved_usd"] == PRICE and isinstance(back["saved_usd"], Decimal)
    assert cache_of(back) == cache_of(row)


def test_a_bare_degraded_hit_is_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when the answer cannot be read at all, a hit is recorded as a hit that cost nothing."""

    def broken(*_: Any) -> Any:
        raise RecursionError("too deep")

    monkeypatch.setattr("llmgate.recording.degrade.to_row", broken)
    row = degraded_call_row(call("hit"), PRICES, "to_row (RecursionError)")
    assert cache_of(row) == (True, "hit", KEY, None)
    assert row["cost_usd"] == 0 and row.get("saved_usd") is None


class _Enforcer:
    def __init__(self) -> None:
        self.settled: list[tuple[Decimal | None, int | None]] = []

    def settle(self, admission: Any, cost: Decimal | None, tokens: int | None) -> None:
        self.settled.append((cost, tokens))


@pytest.mark.parametrize(
    ("cache", "charged"), [("hit", Decimal(0)), ("semantic-hit", Decimal(0)), ("miss", PRICE)]
)
def test_budgets_are_not_charged_for_hits(cache: str, charged: Decimal) -> None:
    enforcer = _Enforcer()
    gateway = SimpleNamespace(_enforcer=enforcer, _prices=PRICES)
    admission = SimpleNamespace(counts=True, settled=False)
    Gateway._account(gateway, call(cache), admission)  # type: ignore[arg-type]
    assert enforcer.settled == [(charged, 1500)]


def scrape(metrics: CallMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = Exposition(metrics, list).render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_hits_misses_and_saved_dollars_by_model_on_metrics() -> None:
    metrics = CallMetrics()
    for record in (
        call("hit"),
        call("hit"),
        call("semantic-hit", cache_similarity=0.97),
        call("miss"),
        call("bypass"),
        call(None),
        call("hit", deployment=PRIVATE, model="private"),  # no price: a hit saving nothing known
    ):
        metrics.observe(record, to_row(record, PRICES))
    samples = scrape(metrics)
    requests = {
        labels: value for (name, labels), value in samples.items() if name == "llmgate_cache_requests_total"
    }
    assert requests == {
        (("model", "gpt"), ("result", "hit")): 2,
        (("model", "gpt"), ("result", "semantic-hit")): 1,
        (("model", "gpt"), ("result", "miss")): 1,
        (("model", "gpt"), ("result", "bypass")): 1,
        (("model", "private"), ("result", "hit")): 1,
    }
    saved = {labels: v for (name, labels), v in samples.items() if name == "llmgate_cache_saved_usd_total"}
    assert saved == {(("model", "gpt"),): pytest.approx(float(3 * PRICE))}
    # the hits cost nothing: only the miss, the bypass and the uncached call are spend
    cost = sum(v for (name, _), v in samples.items() if name == "llmgate_cost_usd_total")
    assert cost == pytest.approx(float(3 * PRICE))
