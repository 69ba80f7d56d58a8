"""Wildcard model groups (``routing/wildcards.py`` through ``routing/router.py``): which group a
name goes to, what its deployments call, and that each name is resolved once and kept."""

from __future__ import annotations

from typing import Any

import pytest

from llmgate.config import parse_config
from llmgate.config.deployment import Deployment, build_deployments
from llmgate.errors import ModelNotFound
from llmgate.routing import Router
from llmgate.routing.health import Health
from llmgate.routing.wildcards import Wildcards


def entry(name: str, model: str, id_: str, **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": model, **params}, "model_info": {"id": id_}}


def router(*entries: dict[str, Any], **router_settings: Any) -> tuple[Router, list[Deployment]]:
    config = parse_config({"model_list": list(entries), "router_settings": router_settings})
    deployments = build_deployments(config)
    r = Router(
        deployments,
        health=Health([d.id for d in deployments]),
        fallbacks=config.routing.fallbacks,
        default_fallbacks=config.routing.default_fallbacks,
    )
    made: list[Deployment] = []
    r.on_new_deployment = made.append
    return r, made


ANTHROPIC = entry("anthropic/*", "anthropic/*", "claude-any", api_base="http://127.0.0.1:9/anthropic")
OPENAI = entry("openai/*", "openai/*", "openai-any", api_base="http://127.0.0.1:9/v1")
GPT4 = entry("openai/gpt-4*", "openai/gpt-4*", "gpt4-any", api_base="http://127.0.0.1:9/gpt4")


def test_a_provider_wildcard_serves_each_model_by_its_own_name() -> None:
    r, made = router(ANTHROPIC)
    (d,) = r.group("anthropic/claude-3-5-haiku-20241022")
    assert (d.model_name, d.provider, d.upstream_model, d.litellm_model, d.api_base) == (
        "anthropic/claude-3-5-haiku-20241022",
        "anthropic",
        "claude-3-5-haiku-20241022",
        "anthropic/claude-3-5-haiku-20241022",
        "http://127.0.0.1:9/anthropic",
    )
    assert d.id == "claude-any:anthropic/claude-3-5-haiku-20241022"
    assert made == [d]
    with pytest.raises(ModelNotFound):
        r.group("openai/gpt-4o")


def test_exact_names_win_and_the_most_specific_pattern_wins() -> None:
    exact = entry("openai/gpt-4o", "mock/exact", "exact")
    r, _ = router(OPENAI, GPT4, exact)
    assert [d.id for d in r.group("openai/gpt-4o")] == ["exact"]
    assert r.group("openai/gpt-4o-mini")[0].id == "gpt4-any:openai/gpt-4o-mini"
    assert r.group("openai/o3-mini")[0].id == "openai-any:openai/o3-mini"
    assert r.model_names == ["openai/*", "openai/gpt-4*", "openai/gpt-4o"]  # listed as configured


def test_each_name_is_resolved_once_and_kept() -> None:
    r, made = router(ANTHROPIC)
    first = r.group("anthropic/claude-3-5-haiku-20241022")
    assert r.group("anthropic/claude-3-5-haiku-20241022") is first
    r.pick("anthropic/claude-3-5-haiku-20241022")
    assert len(made) == 1


def test_past_the_cache_names_share_their_group_health_and_nothing_grows() -> None:
    config = parse_config({"model_list": [ANTHROPIC]})
    templates = build_deployments(config)
    made: list[Deployment] = []
    wildcards = Wildcards(templates, on_new=made.append, cache_size=2)
    ids = [wildcards.resolve(f"anthropic/claude-{n}") for n in range(4)]
    assert [d[0].id for d in ids if d] == [
        "claude-any:anthropic/claude-0",
        "claude-any:anthropic/claude-1",
        "claude-any",
        "claude-any",
    ]
    assert len(made) == 2
    assert ids[3] is not None and ids[3][0].upstream_model == "claude-3"  # still served


def test_a_failing_model_cools_down_alone() -> None:
    r, _ = router(ANTHROPIC, cooldown_time=30)
    haiku = r.group("anthropic/claude-3-5-haiku-20241022")[0]
    sonnet = r.group("anthropic/claude-sonnet-4-5")[0]
    r.health.open(haiku.id, 30)
    assert r.pick("anthropic/claude-3-5-haiku-20241022") is None
    assert r.pick("anthropic/claude-sonnet-4-5") is sonnet


def test_a_bare_wildcard_infers_each_provider() -> None:
    r, _ = router(entry("*", "*", "any"))
    gpt = r.group("gpt-4o")[0]
    assert (gpt.provider, gpt.upstream_model, gpt.api_base) == (
        "openai",
        "gpt-4o",
        "https://api.openai.com/v1",
    )
    claude = r.group("anthropic/claude-3-5-haiku-20241022")[0]
    assert (claude.provider, claude.upstream_model, claude.api_base) == (
        "anthropic",
        "claude-3-5-haiku-20241022",
        None,
    )
    with pytest.raises(ModelNotFound):
        r.group("a-name-no-provider-knows")


def test_a_bare_name_matches_its_provider_wildcard() -> None:
    r, _ = router(ANTHROPIC)
    (d,) = r.group("claude-sonnet-4-20250514")
    assert (d.model_name, d.upstream_model) == ("claude-sonnet-4-20250514", "claude-sonnet-4-20250514")


def test_a_prefix_pattern_maps_onto_another_provider() -> None:
    r, _ = router(entry("team-a/*", "openai/*", "team-a", api_base="http://127.0.0.1:9/v1"))
    d = r.group("team-a/gpt-4o-mini")[0]
    assert (d.model_name, d.provider, d.upstream_model) == ("team-a/gpt-4o-mini", "openai", "gpt-4o-mini")


def test_fallbacks_of_a_wildcard_group_and_to_names_it_serves() -> None:
    backup = entry("backup", "mock/backup", "backup")
    r, _ = router(
        ANTHROPIC, OPENAI, backup, fallbacks=[{"anthropic/*": ["backup"]}, {"backup": ["openai/gpt-4o"]}]
    )
    assert r.fallbacks_for("anthropic/claude-3-5-haiku-20241022") == ["backup"]
    assert r.fallbacks_for("backup") == ["openai/gpt-4o"]
    assert r.fallbacks_for("openai/gpt-4o") == []


@pytest.mark.parametrize("name", ["anthropic/claude\nx", "anthropic/" + "x" * 300, "anthropic/a b"])
def test_names_unfit_for_ids_and_headers_are_not_served(name: str) -> None:
    r, _ = router(ANTHROPIC)
    with pytest.raises(ModelNotFound):
        r.group(name)
