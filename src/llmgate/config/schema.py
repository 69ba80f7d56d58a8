"""Pydantic models of the gateway's YAML configuration: ``GatewayConfig``, the whole file.

The file format is LiteLLM proxy's ``config.yaml`` for the parts the two share
(``model_list``, ``litellm_settings``, ``router_settings``, ``general_settings``,
``environment_variables``), so an existing LiteLLM config loads unchanged. llmgate's own
settings live under the top-level ``llmgate:`` section.

Strictness: a key neither llmgate nor LiteLLM knows is an error that names the key. A key
LiteLLM knows but llmgate does not implement is accepted and named in one warning at
start-up (``unimplemented_keys``), never silently dropped (``config/litellm_compat.py``).

The sections live in modules of their own: ``model_list[]`` entries in ``model_entry.py``,
``router_settings`` / ``litellm_settings`` and the resolved routing policy in
``router_settings.py``, the ``llmgate:`` section in ``llmgate_settings.py``. This module ties them
together (``general_settings``, the checks across sections) and re-exports them, so
``from llmgate.config.schema import ...`` reaches every model of the file.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator

from llmgate.config.canary_settings import CANARY_GROUP_PREFIX, check_canaries, resolve_bare_candidates
from llmgate.config.litellm_compat import LiteLLMCompatible, litellm_known_keys
from llmgate.config.llmgate_settings import MIB, AlertSettings, EvalSchedule, LlmgateSettings, WebhookSettings
from llmgate.config.model_entry import REQUEST_DEFAULT_PARAMS, LiteLLMParams, ModelEntry, ModelInfo
from llmgate.config.model_patterns import Pattern, is_pattern
from llmgate.config.router_settings import (
    DEFAULT_ALLOWED_FAILS,
    DEFAULT_COOLDOWN_S,
    DEFAULT_NUM_RETRIES,
    DEFAULT_REQUEST_TIMEOUT_S,
    FALLBACK_KEYS,
    LiteLLMSettings,
    RouterSettings,
    RoutingPolicy,
    RoutingStrategy,
    routing_policy,
)
from llmgate.config.schema_base import Strict

__all__ = [
    "DEFAULT_ALLOWED_FAILS",
    "DEFAULT_COOLDOWN_S",
    "DEFAULT_NUM_RETRIES",
    "DEFAULT_REQUEST_TIMEOUT_S",
    "FALLBACK_KEYS",
    "MIB",
    "MIN_MASTER_KEY_CHARS",
    "REQUEST_DEFAULT_PARAMS",
    "UNKNOWN_GROUP",
    "AlertSettings",
    "EvalSchedule",
    "GatewayConfig",
    "GeneralSettings",
    "LiteLLMCompatible",
    "LiteLLMParams",
    "LiteLLMSettings",
    "LlmgateSettings",
    "ModelEntry",
    "ModelInfo",
    "RouterSettings",
    "RoutingPolicy",
    "RoutingStrategy",
    "WebhookSettings",
    "litellm_known_keys",
]

#: the shortest master key llmgate starts with: it opens the admin API and the dashboard
MIN_MASTER_KEY_CHARS = 16


class GeneralSettings(LiteLLMCompatible):
    _section: ClassVar[str] = "general_settings"

    master_key: SecretStr | None = None
    database_url: str | None = None
    max_request_size_mb: float | None = Field(default=None, gt=0)

    @field_validator("master_key")
    @classmethod
    def _long_master_key(cls, value: SecretStr | None) -> SecretStr | None:
        # checked after os.environ/NAME is resolved; the message never shows the key
        if value is not None and len(value.get_secret_value()) < MIN_MASTER_KEY_CHARS:
            raise ValueError(
                f"too short: use at least {MIN_MASTER_KEY_CHARS} characters "
                "(e.g. sk-admin-$(openssl rand -hex 16))"
            )
        return value


UNKNOWN_GROUP = "is not a model_name in model_list"


class GatewayConfig(Strict):
    """The whole configuration file."""

    model_list: list[ModelEntry] = Field(default_factory=list)
    litellm_settings: LiteLLMSettings = LiteLLMSettings()
    router_settings: RouterSettings = RouterSettings()
    general_settings: GeneralSettings = GeneralSettings()
    environment_variables: dict[str, str] = Field(default_factory=dict)
    llmgate: LlmgateSettings = LlmgateSettings()

    @model_validator(mode="before")
    @classmethod
    def _bare_candidates(cls, data: Any) -> Any:  # a canary's ``candidate: <deployment id>``
        return resolve_bare_candidates(data)

    @model_validator(mode="after")
    def _canaries_name_groups(self) -> GatewayConfig:
        for i, entry in enumerate(self.model_list):
            if entry.model_name.startswith(CANARY_GROUP_PREFIX):
                raise ValueError(
                    f"model_list[{i}].model_name: {entry.model_name!r}: names starting with "
                    f"{CANARY_GROUP_PREFIX!r} are llmgate's (a canary's candidate group)"
                )
        if self.llmgate.canaries:
            ids = {e.model_info.id: e.model_name for e in self.model_list if e.model_info.id}
            check_canaries(self.llmgate.canaries, {e.model_name for e in self.model_list}, ids)
        return self

    @model_validator(mode="after")
    def _fallbacks_name_groups(self) -> GatewayConfig:
        names = {entry.model_name for entry in self.model_list}
        patterns = [Pattern(name) for name in names if is_pattern(name)]

        def known(name: str) -> bool:  # a group, or a name a wildcard group serves
            return name in names or any(p.match(name) is not None for p in patterns)

        for section in ("router_settings", "litellm_settings"):
            settings = getattr(self, section)
            for key in FALLBACK_KEYS:
                for item in getattr(settings, key) or []:
                    for source, targets in item.items():
                        for name in (source, *targets):
                            if name != "*" and not known(name):
                                raise ValueError(f"{section}.{key}: {name!r} {UNKNOWN_GROUP}")
            for name in settings.default_fallbacks or []:
                if not known(name):
                    raise ValueError(f"{section}.default_fallbacks: {name!r} {UNKNOWN_GROUP}")
        return self

    @property
    def routing(self) -> RoutingPolicy:
        """``router_settings`` with LiteLLM's ``litellm_settings`` equivalents filled in, and defaults."""
        return routing_policy(self.router_settings, self.litellm_settings)

    def unimplemented_keys(self) -> list[str]:
        """LiteLLM keys in this file that llmgate accepts but does not act on."""
        found: list[str] = []
        for name in ("litellm_settings", "router_settings", "general_settings"):
            section: LiteLLMCompatible = getattr(self, name)
            found += [f"{name}.{key}" for key in section.unimplemented()]
        for i, entry in enumerate(self.model_list):
            found += [f"model_list[{i}].litellm_params.{key}" for key in entry.litellm_params.unimplemented()]
        return found

    @property
    def max_body_bytes(self) -> int:
        if self.general_settings.max_request_size_mb is not None:
            return int(self.general_settings.max_request_size_mb * MIB)
        return self.llmgate.max_request_body_bytes
