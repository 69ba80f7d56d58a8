"""Which adapter a deployment gets for Anthropic's Messages API (``apis/messages.py``), and the
adapters' own resources closed with the app (``Adapters.aclose``)."""

from __future__ import annotations

from llmgate.apis.messages import NativeMessages, choosers
from llmgate.apis.messages_translated import CountTokens, TokenCounter, TranslatedMessages
from llmgate.apis.registry import Adapters
from llmgate.config import build_deployments, parse_config
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.anthropic_native import AnthropicNative

CONFIG = {
    "model_list": [
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-sonnet-4-5"}},
        {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o-mini"}},
        {"model_name": "local", "litellm_params": {"model": "mock/echo"}},
        {"model_name": "gemini", "litellm_params": {"model": "gemini/gemini-2.0-flash"}},
    ]
}


async def test_anthropic_deployments_pass_through_and_the_rest_are_translated() -> None:
    claude, *others = build_deployments(parse_config(CONFIG))
    sender = AnthropicNative()
    closed: list[str] = []
    adapters = Adapters()
    for endpoint, chooser in choosers(sender, TokenCounter(lambda m, b: 1, lambda m, t: 1)).items():
        adapters.register(endpoint, chooser)
    adapters.on_close(sender.aclose)

    async def note() -> None:
        closed.append("closed")

    adapters.on_close(note)
    assert isinstance(adapters.for_(Endpoint.MESSAGES, claude), NativeMessages)
    assert isinstance(adapters.for_(Endpoint.MESSAGES_COUNT_TOKENS, claude), NativeMessages)
    for deployment in others:
        assert isinstance(adapters.for_(Endpoint.MESSAGES, deployment), TranslatedMessages)
        assert isinstance(adapters.for_(Endpoint.MESSAGES_COUNT_TOKENS, deployment), CountTokens)
    assert adapters.for_(Endpoint.CHAT, claude) is None  # chat to anthropic/ stays with its provider
    await adapters.aclose()
    assert closed == ["closed"]
