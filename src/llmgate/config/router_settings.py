"""How requests are routed, retried and failed over: ``router_settings`` and ``litellm_settings``.

LiteLLM accepts the routing keys in both sections; ``router_settings`` wins when both give one.
``routing_policy`` resolves the two, with llmgate's defaults, into the ``RoutingPolicy`` that
``llmgate.routing`` runs on (``routing/router.py`` implements each ``RoutingStrategy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from llmgate.config.cache_settings import CacheParams
from llmgate.config.litellm_compat import LiteLLMCompatible

__all__ = [
    "DEFAULT_ALLOWED_FAILS",
    "DEFAULT_COOLDOWN_S",
    "DEFAULT_NUM_RETRIES",
    "DEFAULT_REQUEST_TIMEOUT_S",
    "FALLBACK_KEYS",
    "LiteLLMSettings",
    "RouterSettings",
    "RoutingPolicy",
    "RoutingStrategy",
    "routing_policy",
]

#: how a model group spreads requests over its deployments (``routing/router.py`` implements each)
RoutingStrategy = Literal["simple-shuffle", "least-busy", "latency-based-routing"]


class RouterSettings(LiteLLMCompatible):
    _section: ClassVar[str] = "router_settings"

    routing_strategy: RoutingStrategy = "simple-shuffle"
    num_retries: int | None = Field(default=None, ge=0)  # retries per model group (default 2)
    timeout: float | None = Field(default=None, gt=0)  # per attempt
    request_timeout: float | None = Field(default=None, gt=0)  # whole request, all attempts
    retry_after: float = Field(default=0.0, ge=0)  # least wait before retrying a failed deployment
    allowed_fails: int | None = Field(default=None, ge=1)  # failures per minute that open the circuit
    cooldown_time: float | None = Field(default=None, ge=0)  # seconds a tripped deployment is skipped
    disable_cooldowns: bool = False
    fallbacks: list[dict[str, list[str]]] | None = None
    context_window_fallbacks: list[dict[str, list[str]]] | None = None
    content_policy_fallbacks: list[dict[str, list[str]]] | None = None
    default_fallbacks: list[str] | None = None
    redis_url: str | None = None


class LiteLLMSettings(LiteLLMCompatible):
    _section: ClassVar[str] = "litellm_settings"
    _implemented_extra: ClassVar[frozenset[str]] = frozenset({"drop_params"})

    # LiteLLM accepts these here too; router_settings wins when both are given.
    request_timeout: float | None = Field(default=None, gt=0)
    num_retries: int | None = Field(default=None, ge=0)
    allowed_fails: int | None = Field(default=None, ge=1)
    cooldown_time: float | None = Field(default=None, ge=0)
    fallbacks: list[dict[str, list[str]]] | None = None
    context_window_fallbacks: list[dict[str, list[str]]] | None = None
    content_policy_fallbacks: list[dict[str, list[str]]] | None = None
    default_fallbacks: list[str] | None = None
    # the response cache (config/cache_settings.py, cache/): LiteLLM's switch and its parameters
    cache: bool = False
    cache_params: CacheParams | None = None

    def unimplemented(self) -> list[str]:
        ignored = self.cache_params.unimplemented() if self.cache_params is not None else []
        return [*super().unimplemented(), *(f"cache_params.{key}" for key in ignored)]


FALLBACK_KEYS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
DEFAULT_NUM_RETRIES = 2
DEFAULT_REQUEST_TIMEOUT_S = 600.0
DEFAULT_ALLOWED_FAILS = 3
DEFAULT_COOLDOWN_S = 5.0


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """Retries, timeouts, cooldowns and fallbacks, resolved from both LiteLLM sections."""

    strategy: RoutingStrategy
    num_retries: int
    attempt_timeout: float | None
    request_timeout: float
    retry_after: float
    allowed_fails: int
    cooldown_time: float
    cooldowns: bool
    fallbacks: dict[str, list[str]]
    default_fallbacks: list[str]
    context_window_fallbacks: dict[str, list[str]]
    content_policy_fallbacks: dict[str, list[str]]
    redis_url: str | None


def routing_policy(r: RouterSettings, lite: LiteLLMSettings) -> RoutingPolicy:
    """``router_settings`` with LiteLLM's ``litellm_settings`` equivalents filled in, and defaults."""

    def pick(key: str, default: Any) -> Any:
        value = getattr(r, key)
        if value is None:
            value = getattr(lite, key)
        return default if value is None else value

    def chains(key: str) -> dict[str, list[str]]:
        merged: dict[str, list[str]] = {}
        for item in pick(key, []):
            merged.update(item)
        return merged

    fallbacks = chains("fallbacks")
    default_fallbacks = list(pick("default_fallbacks", []) or fallbacks.pop("*", []))
    return RoutingPolicy(
        strategy=r.routing_strategy,
        num_retries=pick("num_retries", DEFAULT_NUM_RETRIES),
        attempt_timeout=r.timeout,
        request_timeout=pick("request_timeout", DEFAULT_REQUEST_TIMEOUT_S),
        retry_after=r.retry_after,
        allowed_fails=pick("allowed_fails", DEFAULT_ALLOWED_FAILS),
        cooldown_time=pick("cooldown_time", DEFAULT_COOLDOWN_S),
        cooldowns=not r.disable_cooldowns,
        fallbacks=fallbacks,
        default_fallbacks=default_fallbacks,
        context_window_fallbacks=chains("context_window_fallbacks"),
        content_policy_fallbacks=chains("content_policy_fallbacks"),
        redis_url=r.redis_url,
    )
