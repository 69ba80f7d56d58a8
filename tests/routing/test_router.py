"""Which deployment each routing strategy picks, and the fallback chains (``routing/router.py``).

Inputs are deterministic: in-flight counts and latencies are set on the deployments' health,
and the random choices come from a seeded ``random.Random``.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from llmgate.config import parse_config
from llmgate.config.deployment import build_deployments
from llmgate.errors import ConfigError, ModelNotFound
from llmgate.routing import Router
from llmgate.routing.health import Health


def router(strategy: str, *entries: dict[str, Any], seed: int = 3, **router_settings: Any) -> Router:
    """A router over ``entries`` (id plus any litellm_params), all in the model group ``gpt``."""
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": entry.get("group", "gpt"),
                    "litellm_params": {"model": "mock/x", **entry.get("params", {})},
                    "model_info": {"id": entry["id"]},
                }
                for entry in entries
            ],
            "router_settings": {"routing_strategy": strategy, **router_settings},
        }
    )
    policy = config.routing
    deployments = build_deployments(config)
    return Router(
        deployments,
        health=Health([d.id for d in deployments]),
        strategy=policy.strategy,
        fallbacks=policy.fallbacks,
        default_fallbacks=policy.default_fallbacks,
        context_window_fallbacks=policy.context_window_fallbacks,
        content_policy_fallbacks=policy.content_policy_fallbacks,
        rng=random.Random(seed),
    )


def picks(r: Router, n: int = 2000, failed: tuple[str, ...] = ()) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _ in range(n):
        chosen = r.pick("gpt", failed)
        counts[chosen.id if chosen is not None else "none"] += 1
    return counts


# --- simple-shuffle -----------------------------------------------------------------------


def test_simple_shuffle_spreads_by_weight() -> None:
    r = router(
        "simple-shuffle",
        {"id": "heavy", "params": {"weight": 3}},
        {"id": "light", "params": {"weight": 1}},
        {"id": "off", "params": {"weight": 0}},
    )
    counts = picks(r, 4000)
    assert counts["off"] == 0
    assert 0.70 <= counts["heavy"] / 4000 <= 0.80


def test_simple_shuffle_weighs_by_rpm_when_set() -> None:
    r = router(
        "simple-shuffle",
        {"id": "big", "params": {"rpm": 900, "weight": 1}},
        {"id": "small", "params": {"rpm": 100, "weight": 100}},
    )
    counts = picks(r, 4000)
    assert 0.85 <= counts["big"] / 4000 <= 0.95


def test_simple_shuffle_with_no_weight_anywhere_is_uniform() -> None:
    r = router("simple-shuffle", {"id": "a", "params": {"weight": 0}}, {"id": "b", "params": {"weight": 0}})
    counts = picks(r, 4000)
    assert 0.45 <= counts["a"] / 4000 <= 0.55


def test_a_deployment_that_failed_this_request_is_picked_only_when_none_other_is_left() -> None:
    r = router("simple-shuffle", {"id": "a"}, {"id": "b"}, {"id": "c"})
    assert set(picks(r, 200, failed=("a", "b"))) == {"c"}
    assert set(picks(r, 200, failed=("a", "b", "c"))) == {"a", "b", "c"}


def test_deployments_cooling_down_are_never_picked_and_none_when_all_are() -> None:
    r = router("simple-shuffle", {"id": "a"}, {"id": "b"})
    r.health.open("a", 30)
    assert set(picks(r, 200)) == {"b"}
    r.health.open("b", 30)
    assert r.pick("gpt") is None
    assert r.soonest_available_in(["gpt"]) == pytest.approx(30, abs=0.5)


# --- least-busy ---------------------------------------------------------------------------


def test_least_busy_picks_the_deployment_with_fewest_requests_in_flight() -> None:
    r = router("least-busy", {"id": "a"}, {"id": "b"}, {"id": "c"})
    for deployment, busy in (("a", 3), ("b", 1), ("c", 2)):
        for _ in range(busy):
            r.health.begin(deployment)
    assert set(picks(r, 200)) == {"b"}


def test_least_busy_counts_other_processes_requests() -> None:
    r = router("least-busy", {"id": "a"}, {"id": "b"})
    r.health.begin("a")
    r.health.set_remote_in_flight("b", 5)  # what Redis says the other replicas have in flight
    assert set(picks(r, 200)) == {"a"}


def test_least_busy_breaks_ties_at_random_among_the_least_busy() -> None:
    r = router("least-busy", {"id": "a"}, {"id": "b"}, {"id": "c"})
    r.health.begin("c")
    counts = picks(r, 2000)
    assert set(counts) == {"a", "b"}
    assert 0.4 <= counts["a"] / 2000 <= 0.6


# --- latency-based-routing ----------------------------------------------------------------


def measured(r: Router, latencies: dict[str, float]) -> Router:
    for deployment, latency_ms in latencies.items():
        r.health.begin(deployment)
        r.health.success(deployment, latency_ms)
    return r


def test_latency_based_routing_tries_unmeasured_deployments_first() -> None:
    r = measured(router("latency-based-routing", {"id": "a"}, {"id": "b"}, {"id": "new"}), {"a": 10, "b": 20})
    assert set(picks(r, 200)) == {"new"}


def test_latency_based_routing_picks_the_fastest() -> None:
    r = measured(
        router("latency-based-routing", {"id": "a"}, {"id": "b"}, {"id": "c"}), {"a": 80, "b": 40, "c": 200}
    )
    assert set(picks(r, 200)) == {"b"}


def test_latency_based_routing_spreads_over_those_within_ten_percent_of_the_fastest() -> None:
    r = router("latency-based-routing", {"id": "a"}, {"id": "b"}, {"id": "c"})
    measured(r, {"a": 100, "b": 109, "c": 112})
    counts = picks(r, 2000)
    assert set(counts) == {"a", "b"}
    assert 0.4 <= counts["a"] / 2000 <= 0.6


# --- fallbacks and unknown names ----------------------------------------------------------


def test_fallback_chains_name_only_known_groups_and_default_fallbacks_skip_the_model_itself() -> None:
    r = router(
        "simple-shuffle",
        {"id": "a"},
        {"id": "b", "group": "backup"},
        {"id": "c", "group": "spare"},
        fallbacks=[{"gpt": ["spare", "backup"]}],
        default_fallbacks=["backup", "spare"],
        context_window_fallbacks=[{"gpt": ["spare"]}],
    )
    assert r.fallbacks_for("gpt") == ["spare", "backup"]  # its own chain, in its order
    assert r.fallbacks_for("backup") == ["spare"]  # the default chain, without itself
    assert r.context_window_fallbacks_for("gpt") == ["spare"]
    assert r.content_policy_fallbacks_for("gpt") == []


def test_an_unknown_model_is_model_not_found() -> None:
    with pytest.raises(ModelNotFound):
        router("simple-shuffle", {"id": "a"}).pick("claude")


@pytest.mark.parametrize("strategy", ["usage-based-routing", "fastest", ""])
def test_an_unknown_routing_strategy_is_a_config_error_naming_the_key_and_the_choices(strategy: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"router_settings": {"routing_strategy": strategy}}, source="gateway.yaml")
    assert str(raised.value) == (
        f"gateway.yaml: router_settings.routing_strategy: {strategy!r} is not one of: "
        "'simple-shuffle', 'least-busy' or 'latency-based-routing'"
    )


def test_the_router_refuses_an_unknown_strategy_too() -> None:
    config = parse_config({"model_list": [{"model_name": "gpt", "litellm_params": {"model": "mock/x"}}]})
    with pytest.raises(ValueError, match="usage-based-routing"):
        Router(build_deployments(config), strategy="usage-based-routing")
