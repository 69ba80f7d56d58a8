"""Model names without a provider prefix, as LiteLLM infers them (``config/bare_models.py``), and
wildcard names in the config (``config/model_patterns.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmgate.config import build_deployments, load_config, parse_config
from llmgate.config.bare_models import infer_provider
from llmgate.config.model_patterns import Pattern, allowed_by
from llmgate.errors import ConfigError


def deployment_of(model: str) -> tuple[str, str, str, str | None]:
    config = parse_config({"model_list": [{"model_name": "m", "litellm_params": {"model": model}}]})
    (d,) = build_deployments(config)
    return d.provider, d.upstream_model, d.litellm_model, d.api_base


@pytest.mark.parametrize(
    ("bare", "provider"),
    [
        ("gpt-4o", "openai"),  # litellm's map: litellm_provider "openai"
        ("text-embedding-3-small", "openai"),
        ("o3-mini", "openai"),
        ("gpt-3.5-turbo-instruct", "text-completion-openai"),
        ("claude-sonnet-4-20250514", "anthropic"),  # in the map
        ("claude-newfamily-5", "anthropic"),  # the map's own routing rule for Claude ids
        ("claude-3-5-sonnet-20241022", "anthropic"),  # retired from the map: the family table
        ("gemini-2.5-pro", "vertex_ai"),  # LiteLLM sends bare Gemini names to Vertex AI
        ("gemini-1.5-pro", "vertex_ai"),
        ("text-embedding-004", "vertex_ai"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "bedrock"),
        ("ft:gpt-4o-mini:acme::abc123", "openai"),
    ],
)
def test_a_bare_name_gets_the_provider_litellm_infers(bare: str, provider: str) -> None:
    assert infer_provider(bare) == provider
    assert deployment_of(bare)[:3] == (provider, bare, f"{provider}/{bare}")


def test_an_inferred_openai_model_goes_to_openai_directly() -> None:
    assert deployment_of("gpt-4o") == ("openai", "gpt-4o", "openai/gpt-4o", "https://api.openai.com/v1")


def test_an_unknown_bare_name_is_one_line_naming_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: ok\n    litellm_params:\n      model: gpt-4o-mini\n"
        "  - model_name: house\n    litellm_params:\n      model: house-llm-v2\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = caught.value.message
    assert "model_list[1].litellm_params.model" in message and "'house-llm-v2'" in message
    assert "'provider/model'" in message and "\n" not in message


def test_prefixed_names_and_wildcards_are_taken_as_written() -> None:
    assert deployment_of("anthropic/claude-3-5-haiku-20241022")[:2] == (
        "anthropic",
        "claude-3-5-haiku-20241022",
    )
    assert deployment_of("my-corp/house-llm")[:2] == ("my-corp", "house-llm")  # litellm decides at call time
    assert deployment_of("anthropic/*")[:2] == ("anthropic", "*")
    assert deployment_of("*")[:3] == ("*", "*", "*")  # the provider is inferred per request


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("anthropic/*", "anthropic/claude-3-5-haiku-20241022", True),
        ("anthropic/*", "claude-sonnet-4-20250514", True),  # bare: matched as anthropic/<name>
        ("anthropic/*", "openai/gpt-4o", False),
        ("openai/gpt-4*", "openai/gpt-4o-mini", True),
        ("openai/gpt-4*", "openai/o3-mini", False),
        ("openai/gpt-4*", "gpt-4o", True),
        ("*", "anything-at-all", True),
    ],
)
def test_wildcard_patterns_match_as_litellm_does(pattern: str, name: str, matches: bool) -> None:
    assert (Pattern(pattern).match(name) is not None) is matches


def test_fill_puts_the_matched_part_into_the_upstream_model() -> None:
    found = Pattern("my-team/*").match("my-team/gpt-4o")
    assert found is not None
    assert Pattern.fill(found, "openai/*") == "openai/gpt-4o"
    assert Pattern.fill(found, "openai/gpt-4o-mini") == "openai/gpt-4o-mini"  # no wildcard: as written


def test_allow_lists_admit_names_their_patterns_match() -> None:
    assert allowed_by("anthropic/claude-3-5-haiku-20241022", ["anthropic/*"])
    assert allowed_by("gpt-4o", ["gpt-4o"])
    assert not allowed_by("anthropic/claude-3-5-haiku-20241022", ["openai/*"])
    assert not allowed_by("openai/gpt-4o\n", ["openai/*"])  # names with control characters never match
