"""Which deployments get ``/v1/responses`` passed through, and which through chat completions."""

from __future__ import annotations

from typing import Any

from llmgate.apis.responses_adapter import PassedResponses, TranslatedResponses
from llmgate.apis.responses_choice import responses_chooser, speaks_responses
from llmgate.apis.responses_memory import ResponseMemory
from llmgate.config import parse_config
from llmgate.config.deployment import Deployment, build_deployments


def deployment(model: str, **info: Any) -> Deployment:
    entry = {
        "model_name": "m",
        "litellm_params": {"model": model, "api_base": "http://x/v1"},
        "model_info": info,
    }
    (built,) = build_deployments(parse_config({"model_list": [entry]}))
    return built


async def nobody(headers: Any) -> str | None:
    return None


def test_openai_and_azure_speak_it_unless_told_otherwise() -> None:
    assert speaks_responses(deployment("openai/gpt-4o"))
    assert speaks_responses(deployment("azure/gpt-4o"))
    assert not speaks_responses(deployment("openai/gpt-4o", responses_api=False))
    assert not speaks_responses(deployment("hosted_vllm/llama"))
    assert speaks_responses(deployment("hosted_vllm/llama", responses_api=True))
    assert not speaks_responses(deployment("anthropic/claude", responses_api=True))  # litellm serves it: chat
    assert not speaks_responses(deployment("mock/echo"))


def test_the_chooser_passes_through_or_translates() -> None:
    choose = responses_chooser(ResponseMemory(None), nobody)
    assert isinstance(choose(deployment("openai/gpt-4o")), PassedResponses)
    assert isinstance(choose(deployment("mock/echo")), TranslatedResponses)
    assert isinstance(choose(deployment("anthropic/claude")), TranslatedResponses)
