"""Gateway configs the tests share."""

from __future__ import annotations

from typing import Any

from support.upstream import FakeUpstream

MASTER_KEY = "sk-test-master-0123456789"

#: a ``model_list`` entry priced by the config itself: $1 in, $2 out per million tokens
PRICED_GPT: dict[str, Any] = {
    "model_name": "gpt",
    "litellm_params": {
        "model": "openai/gpt-4o-mini",
        "input_cost_per_token": "0.000001",
        "output_cost_per_token": "0.000002",
    },
}


def upstream_config(upstream: FakeUpstream, **llmgate: Any) -> dict[str, Any]:
    """A LiteLLM-style config with one model on the fake upstream and a mock model."""
    return {
        "model_list": [
            {
                "model_name": "gpt-4o-mini",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": upstream.base_url,
                    "api_key": "sk-upstream-secret-key",
                    "timeout": 5,
                    "input_cost_per_token": "0.0000015",
                    "output_cost_per_token": "0.000002",
                },
            },
            {
                "model_name": "text-embedding-3-small",
                "litellm_params": {"model": "openai/text-embedding-3-small", "api_base": upstream.base_url},
                "model_info": {"mode": "embedding"},
            },
            {"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}},
        ],
        "general_settings": {"master_key": MASTER_KEY},
        "llmgate": llmgate,
    }
