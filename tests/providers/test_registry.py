"""providers/registry.py: which provider serves a deployment, and what an app builds for a config."""

from __future__ import annotations

import subprocess
import sys

from llmgate.config import Deployment, build_deployments, parse_config
from llmgate.config.provider_kinds import OPENAI_COMPATIBLE_PROVIDERS
from llmgate.providers.mock import MockProvider
from llmgate.providers.openai_compat import OpenAICompatProvider
from llmgate.providers.registry import CATCH_ALL, kind_name, kinds_for


def deployments(*models: str) -> list[Deployment]:
    config = parse_config(
        {
            "model_list": [
                {"model_name": f"m{i}", "litellm_params": {"model": m}} for i, m in enumerate(models)
            ]
        }
    )
    return build_deployments(config)


def test_each_provider_prefix_has_one_kind() -> None:
    assert kind_name("mock") == "mock"
    assert {kind_name(p) for p in OPENAI_COMPATIBLE_PROVIDERS} == {"openai_compat"}
    assert kind_name("anthropic") == kind_name("bedrock") == CATCH_ALL == "litellm"


def test_kinds_built_for_a_config_and_the_catch_all_only_when_needed() -> None:
    config = parse_config(
        {"model_list": [{"model_name": "a", "litellm_params": {"model": "openai/gpt-4o-mini"}}]}
    )
    kinds = kinds_for(deployments("openai/gpt-4o-mini", "mock/echo"))
    assert sorted(kinds) == ["mock", "openai_compat"]
    assert isinstance(kinds["openai_compat"].build(config), OpenAICompatProvider)
    assert isinstance(kinds["mock"].build(config), MockProvider)
    with_litellm = kinds_for(deployments("openai/gpt-4o-mini", "anthropic/claude-sonnet-4"))
    assert sorted(with_litellm) == ["litellm", "mock", "openai_compat"]
    assert with_litellm["litellm"].warm is not None  # litellm loads in the background at start-up


def test_the_litellm_adapter_is_not_imported_for_openai_compatible_deployments() -> None:
    code = (
        "import sys\n"
        "from llmgate.config import build_deployments, parse_config\n"
        "from llmgate.providers.registry import kinds_for\n"
        "config = parse_config({'model_list': [{'model_name': 'a', 'litellm_params': {'model': 'openai/x'}}]})\n"
        "kinds_for(build_deployments(config))\n"
        "assert 'llmgate.providers.litellm_adapter' not in sys.modules\n"
        "assert 'httpx' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
