"""``model_list[]`` entries: one deployment each, where and how to call it.

``ModelEntry`` holds a deployment's ``litellm_params`` (provider/model, address, key, timeouts,
prices, llmgate's mock settings, and the other LiteLLM keys: request defaults and provider
kwargs) and ``model_info``. Entries that share ``model_name`` form one model group;
``config/deployment.py`` turns them into the ``Deployment`` the router and providers use.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from llmgate.config.bare_models import infer_provider
from llmgate.config.litellm_compat import LiteLLMCompatible
from llmgate.config.model_patterns import ANY_PROVIDER, is_pattern
from llmgate.config.provider_kinds import OPENAI_COMPATIBLE_PROVIDERS
from llmgate.config.schema_base import Strict

__all__ = ["REQUEST_DEFAULT_PARAMS", "LiteLLMParams", "ModelEntry", "ModelInfo"]

#: OpenAI request parameters that may stand in ``litellm_params`` as per-deployment defaults
#: (LiteLLM sends them with every call; llmgate sets them where the client did not).
REQUEST_DEFAULT_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "seed",
        "response_format",
        "reasoning_effort",
        "parallel_tool_calls",
        "logprobs",
        "top_logprobs",
        "user",
        "service_tier",
    }
)


class LiteLLMParams(LiteLLMCompatible):
    """``model_list[].litellm_params``: where and how to call one deployment."""

    _section: ClassVar[str] = "litellm_params"

    model: str = Field(description="provider/model, e.g. openai/gpt-4o-mini, anthropic/claude-sonnet-4")
    api_base: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    organization: str | None = None
    extra_headers: dict[str, str] | None = None
    timeout: float | None = Field(default=None, gt=0)
    stream_timeout: float | None = Field(default=None, gt=0)
    rpm: int | None = Field(default=None, ge=0)
    tpm: int | None = Field(default=None, ge=0)
    weight: float | None = Field(default=None, ge=0)
    input_cost_per_token: Decimal | None = Field(default=None, ge=0)
    output_cost_per_token: Decimal | None = Field(default=None, ge=0)
    cache_read_input_token_cost: Decimal | None = Field(default=None, ge=0)
    output_cost_per_reasoning_token: Decimal | None = Field(default=None, ge=0)
    cache_creation_input_token_cost: Decimal | None = Field(default=None, ge=0)
    # llmgate extensions
    log_prompts: bool | None = None
    mock_response: str | None = None
    mock_latency_ms: float = Field(default=0.0, ge=0)
    mock_chunk_delay_ms: float = Field(default=0.0, ge=0)
    mock_failure_rate: float = Field(default=0.0, ge=0, le=1)
    mock_seed: int | None = None

    @field_validator("model")
    @classmethod
    def _provider_prefix(cls, value: str) -> str:
        if "/" not in value:  # a bare name: the provider LiteLLM infers (config/bare_models.py)
            if is_pattern(value):
                return value  # a wildcard's provider is inferred per request (config/model_patterns.py)
            provider = infer_provider(value)
            if provider is None:
                raise ValueError(
                    f"unknown model {value!r}: no provider is known for it; "
                    f"write it as 'provider/model' (e.g. 'openai/{value}')"
                )
            return f"{provider}/{value}"
        if not value.split("/", 1)[0] or not value.split("/", 1)[1]:
            raise ValueError(f"must be 'provider/model' (e.g. 'openai/gpt-4o-mini'), got {value!r}")
        return value

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0] if "/" in self.model else ANY_PROVIDER

    @property
    def upstream_model(self) -> str:
        return self.model.split("/", 1)[-1]

    def request_defaults(self) -> dict[str, Any]:
        """OpenAI request parameters given here, to set on requests that lack them."""
        return {k: v for k, v in (self.model_extra or {}).items() if k in REQUEST_DEFAULT_PARAMS}

    def provider_kwargs(self) -> dict[str, Any]:
        """The other LiteLLM keys (aws_region_name, vertex_project, ...), for the litellm adapter."""
        return {k: v for k, v in (self.model_extra or {}).items() if k not in REQUEST_DEFAULT_PARAMS}

    def unimplemented(self) -> list[str]:
        # Request defaults are applied for every provider; provider kwargs are handed to
        # litellm, so they only go unused on the directly forwarded OpenAI-compatible path.
        if self.provider in OPENAI_COMPATIBLE_PROVIDERS or self.provider == "mock":
            return sorted(self.provider_kwargs())
        return []


class ModelInfo(BaseModel):
    """``model_list[].model_info``: free-form in LiteLLM; these fields mean something here."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str | None = None
    mode: (
        Literal[
            "chat",
            "completion",
            "embedding",
            "image_generation",
            "image_edit",
            "audio_speech",
            "audio_transcription",
            "moderation",
            "rerank",
        ]
        | None
    ) = None
    base_model: str | None = None
    input_cost_per_token: Decimal | None = Field(default=None, ge=0)
    output_cost_per_token: Decimal | None = Field(default=None, ge=0)
    log_prompts: bool | None = None
    #: whether the server speaks the Responses API (default: openai/ and azure/ do; apis/responses_choice.py)
    responses_api: bool | None = None


class ModelEntry(Strict):
    """One deployment; entries that share ``model_name`` form one model group."""

    model_name: str = Field(min_length=1)
    litellm_params: LiteLLMParams
    model_info: ModelInfo = ModelInfo()
    log_prompts: bool | None = None
