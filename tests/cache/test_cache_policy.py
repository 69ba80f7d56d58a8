"""The cache's config: LiteLLM's ``cache`` / ``cache_params`` and llmgate's ``llmgate.cache``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmgate.cache.policy import cache_policy
from llmgate.config import parse_config
from llmgate.config.cache_settings import DEFAULT_SIMILARITY_THRESHOLD
from llmgate.errors import ConfigError

MODELS = [
    {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "k"}},
    {"model_name": "emb", "litellm_params": {"model": "openai/text-embedding-3-small", "api_key": "k"}},
]


def config(tmp_path: Path, litellm: dict[str, Any] | None = None, **cache: Any) -> Any:
    data: dict[str, Any] = {"model_list": MODELS, "llmgate": {"cache": cache} if cache else {}}
    if litellm is not None:
        data["litellm_settings"] = litellm
    return parse_config(data, base_dir=tmp_path)


def test_off_by_default(tmp_path: Path) -> None:
    assert cache_policy(config(tmp_path)) is None
    assert cache_policy(config(tmp_path, {"cache": False})) is None


def test_litellm_cache_on_everywhere(tmp_path: Path) -> None:
    policy = cache_policy(config(tmp_path, {"cache": True}))
    assert policy is not None and policy.backend == "local" and policy.ttl_s == 3600
    assert policy.for_group("gpt") == (True, False) and policy.namespace == "llmgate"
    assert policy.endpoints == {"chat/completions", "completions", "embeddings"}
    assert policy.scope == "team" and policy.lookup_timeout_s == 0.005
    assert policy.similarity_threshold == DEFAULT_SIMILARITY_THRESHOLD


def test_redis_semantic_and_per_group_settings(tmp_path: Path) -> None:
    lite = {
        "cache": True,
        "cache_params": {"type": "redis-semantic", "host": "h", "port": 6380, "password": "p w"},
    }
    policy = cache_policy(
        config(tmp_path, lite, models={"emb": {"semantic": False}, "gpt": {"exact": False}})
    )
    assert policy is not None and policy.redis_url == "redis://:p%20w@h:6380/0"
    assert policy.for_group("gpt") == (False, True) and policy.for_group("emb") == (True, False)
    assert policy.semantic_off == {"emb"}
    only = cache_policy(config(tmp_path, models={"gpt": {}}))  # named: on, without litellm_settings.cache
    assert (
        only is not None
        and only.for_group("gpt") == (True, False)
        and only.for_group("emb") == (False, False)
    )


def test_call_types_and_litellm_only_keys_are_reported(tmp_path: Path) -> None:
    lite = {
        "cache": True,
        "cache_params": {
            "type": "local",
            "supported_call_types": ["acompletion", "rerank"],
            "mode": "default_off",
        },
    }
    cfg = config(tmp_path, lite)
    policy = cache_policy(cfg)
    assert policy is not None and policy.endpoints == {"chat/completions"}
    unimplemented = cfg.unimplemented_keys()
    assert "litellm_settings.cache_params.mode" in unimplemented
    assert "litellm_settings.cache_params.supported_call_types: rerank (not cached)" in unimplemented
    assert not any(
        key in ("litellm_settings.cache", "litellm_settings.cache_params") for key in unimplemented
    )


@pytest.mark.parametrize(
    ("litellm", "cache", "message"),
    [
        ({"cache": True, "cache_params": {"typo": 1}}, {}, "unknown key 'typo'"),
        ({"cache": True, "cache_params": {"type": "s4"}}, {}, "type"),
        (None, {"scope": "org"}, "scope"),
        (None, {"lookup_timeout": 5}, "lookup_timeout"),
        (None, {"models": {"gpt": {"exactly": True}}}, "exactly"),
        (None, {"semantic": {"max_temperature": -1}}, "max_temperature"),
    ],
)
def test_config_errors(tmp_path: Path, litellm: Any, cache: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(tmp_path, litellm, **cache)


def test_errors_found_when_the_cache_is_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="'nope' is not a model_name"):
        cache_policy(config(tmp_path, models={"nope": {}}))
    for name in ("REDIS_URL", "REDIS_HOST"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="needs Redis"):
        cache_policy(config(tmp_path, {"cache": True, "cache_params": {"type": "redis"}}))
    monkeypatch.setenv("REDIS_URL", "redis://example:1/0")
    policy = cache_policy(config(tmp_path, {"cache": True, "cache_params": {"type": "redis"}}))
    assert policy is not None and policy.redis_url == "redis://example:1/0"
