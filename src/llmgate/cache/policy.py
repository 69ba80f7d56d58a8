"""Which requests the cache serves, and where it lives: the config's two sections resolved once.

``litellm_settings.cache: true`` turns the exact cache on for every model group, and
``cache_params.type: redis-semantic`` the semantic cache too. ``llmgate.cache.models`` turns either
on or off per model group; a group named there has the cache even without
``litellm_settings.cache`` (its exact cache unless it says ``exact: false``). With neither, the
cache is off and ``cache_policy`` returns None: the gateway then never builds one.

The backend is Redis for ``type: redis`` and ``redis-semantic`` (``redis_url``, else ``host`` /
``port`` / ``password``, else LiteLLM's ``REDIS_URL`` or ``REDIS_HOST`` / ``REDIS_PORT`` /
``REDIS_PASSWORD`` variables, else ``router_settings.redis_url``), in-process otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import quote

from llmgate.cache.keys import Scope
from llmgate.config.cache_settings import (
    DEFAULT_SIMILARITY_THRESHOLD,
    CacheParams,
    SemanticCacheSettings,
)
from llmgate.config.model_patterns import Pattern, is_pattern
from llmgate.config.schema import GatewayConfig
from llmgate.errors import ConfigError

__all__ = ["DEFAULT_NAMESPACE", "CachePolicy", "cache_policy"]

DEFAULT_NAMESPACE = "llmgate"


@dataclass(frozen=True, slots=True)
class CachePolicy:
    backend: str  # "local" or "redis"
    redis_url: str | None
    namespace: str
    scope: Scope
    ttl_s: float
    lookup_timeout_s: float
    max_bytes: int
    near_ttl_s: float  # Redis entries kept in-process this long too (near.py)
    similarity_threshold: float
    endpoints: frozenset[str]
    semantic: SemanticCacheSettings
    everywhere: tuple[bool, bool]  # (exact, semantic) of a group not named in llmgate.cache.models
    groups: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # the groups named there
    semantic_off: frozenset[str] = frozenset()  # groups that said ``semantic: false``: no key opts in

    def for_group(self, group: str) -> tuple[bool, bool]:
        """(exact, semantic) for one model group."""
        return self.groups.get(group, self.everywhere)

    @property
    def any_semantic(self) -> bool:
        return self.everywhere[1] or any(semantic for _, semantic in self.groups.values())


def _redis_url(params: CacheParams, router_url: str | None) -> str:
    extra = params.model_extra or {}
    if params.redis_url:
        return params.redis_url
    if isinstance(extra.get("url"), str):
        return str(extra["url"])
    host, port, password = params.host, params.port, params.password
    if host is None and os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    host = host or os.environ.get("REDIS_HOST")
    if host is not None:
        port = port or int(os.environ.get("REDIS_PORT") or 6379)
        password = password or os.environ.get("REDIS_PASSWORD")
        auth = f":{quote(password, safe='')}@" if password else ""
        return f"redis://{auth}{host}:{port}/0"
    if router_url:
        return router_url
    raise ConfigError(
        f"litellm_settings.cache_params.type {params.type!r} needs Redis: give redis_url, or host "
        "(with port and password), or set REDIS_URL"
    )


def cache_policy(config: GatewayConfig) -> CachePolicy | None:
    """The cache this config asks for, or None when it asks for none."""
    lite, own = config.litellm_settings, config.llmgate.cache
    if not lite.cache and not own.models:
        return None
    names = {entry.model_name for entry in config.model_list}
    patterns = [Pattern(name) for name in names if is_pattern(name)]
    for name in own.models:
        if name not in names and not any(p.match(name) is not None for p in patterns):
            raise ConfigError(f"llmgate.cache.models: {name!r} is not a model_name in model_list")
    params = lite.cache_params or CacheParams()
    semantic_everywhere = lite.cache and params.type == "redis-semantic"
    groups = {
        name: (
            setting.exact if setting.exact is not None else True,
            setting.semantic if setting.semantic is not None else semantic_everywhere,
        )
        for name, setting in own.models.items()
    }
    redis = params.type in ("redis", "redis-semantic")
    return CachePolicy(
        backend="redis" if redis else "local",
        redis_url=_redis_url(params, config.routing.redis_url) if redis else None,
        namespace=params.namespace or DEFAULT_NAMESPACE,
        scope=own.scope,
        ttl_s=params.ttl_s,
        lookup_timeout_s=own.lookup_timeout_ms / 1000,
        max_bytes=own.max_bytes,
        near_ttl_s=own.near_ttl_s,
        similarity_threshold=params.similarity_threshold or DEFAULT_SIMILARITY_THRESHOLD,
        endpoints=params.endpoints(),
        semantic=own.semantic,
        everywhere=(lite.cache, semantic_everywhere),
        groups=groups,
        semantic_off=frozenset(name for name, setting in own.models.items() if setting.semantic is False),
    )
