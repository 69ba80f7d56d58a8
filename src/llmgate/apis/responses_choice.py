"""Which deployments speak the Responses API, and the adapter ``/v1/responses`` gets for each.

A deployment speaks it when its config says so (``model_info.responses_api``, on an
OpenAI-compatible provider); without that setting ``openai/`` and ``azure/`` deployments do (with
or without ``api_base``, as LiteLLM assumes) and every other does not. One that speaks it gets the
body passed through (``PassedResponses``); any other gets it translated to chat completions
(``TranslatedResponses``), asking for at most ``max_output_tokens`` under the name its provider
takes: ``max_tokens`` for OpenAI-compatible chat servers and the mock (the name every such server
knows), ``max_completion_tokens`` for litellm's providers (litellm maps it to each provider's own).
"""

from __future__ import annotations

from collections.abc import Callable

from llmgate.apis.base import ApiAdapter
from llmgate.apis.responses_adapter import Owner, PassedResponses, TranslatedResponses
from llmgate.apis.responses_memory import ResponseMemory
from llmgate.config.deployment import Deployment
from llmgate.config.provider_kinds import OPENAI_COMPATIBLE_PROVIDERS

__all__ = ["responses_chooser", "speaks_responses"]

#: providers taken to speak the Responses API unless ``model_info.responses_api: false``
RESPONSES_BY_DEFAULT = frozenset({"openai", "azure"})


def speaks_responses(deployment: Deployment) -> bool:
    """Whether ``deployment``'s upstream serves ``/responses`` itself."""
    if deployment.provider not in OPENAI_COMPATIBLE_PROVIDERS:
        return False
    if deployment.responses_api is not None:
        return deployment.responses_api
    return deployment.provider in RESPONSES_BY_DEFAULT


def responses_chooser(memory: ResponseMemory, owner: Owner) -> Callable[[Deployment], ApiAdapter]:
    """The chooser (``registry.Chooser``) ``build_adapters`` registers for ``Endpoint.RESPONSES``."""
    passed = PassedResponses(memory, owner)
    chat_server = TranslatedResponses(memory, owner, max_tokens_name="max_tokens")
    litellm = TranslatedResponses(memory, owner, max_tokens_name="max_completion_tokens")

    def choose(deployment: Deployment) -> ApiAdapter:
        if speaks_responses(deployment):
            return passed
        if deployment.provider in OPENAI_COMPATIBLE_PROVIDERS or deployment.provider == "mock":
            return chat_server
        return litellm

    return choose
