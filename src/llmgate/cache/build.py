"""Building the response cache an app's config asks for, once, in the server's composition root.

``build_cache`` returns None when the config turns the cache on nowhere (the default): the gateway
then pays one attribute check per request. Otherwise it makes the backend (in-process, or Redis,
whose client is imported only then) and, with the semantic cache's index (on Redis, with the feed
that shares its new vectors between replicas: ``semantic_sync.py``), the ``ResponseCache``.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from llmgate.cache.base import CacheBackend, VectorFeed
from llmgate.cache.local import LocalBackend
from llmgate.cache.near import NearBackend
from llmgate.cache.policy import CachePolicy, cache_policy
from llmgate.cache.semantic_index import build_semantic_index
from llmgate.cache.semantic_rules import semantic_request
from llmgate.cache.service import ResponseCache
from llmgate.config.deployment import Deployment
from llmgate.config.schema import GatewayConfig

__all__ = ["build_backend", "build_cache", "build_feed"]


def build_backend(policy: CachePolicy) -> CacheBackend:
    """The backend ``policy`` names (not yet connected: Redis connects on first use)."""
    if policy.backend == "redis":
        assert policy.redis_url is not None
        # redis: only when the cache is kept in Redis, off the gateway's start-up otherwise
        from llmgate.cache.redis_backend import RedisBackend

        far = RedisBackend(policy.redis_url, f"{quote(policy.namespace, safe='')}:e:*")
        return NearBackend(far, policy.near_ttl_s, policy.max_bytes) if policy.near_ttl_s > 0 else far
    return LocalBackend(policy.max_bytes)


def build_feed(policy: CachePolicy) -> VectorFeed | None:
    """How the semantic index shares its new vectors with the other replicas: Redis pub/sub on the
    backend's Redis, in the config's namespace; none in-process (nothing is persisted there)."""
    if policy.backend != "redis":
        return None
    assert policy.redis_url is not None
    # redis: only when the cache is kept in Redis, off the gateway's start-up otherwise
    from llmgate.cache.semantic_sync import RedisVectorSync

    return RedisVectorSync(policy.redis_url, policy.namespace)


def build_cache(
    config: GatewayConfig,
    *,
    deployment: Callable[[str], Deployment | None],
    count: Callable[[str, tuple[str, ...]], None] | None = None,
) -> ResponseCache | None:
    """The response cache ``config`` asks for, or None. ``deployment``: a deployment by id (a
    hit's prices); ``count``: a counter of ``telemetry/metrics.py`` (backend errors)."""
    policy = cache_policy(config)
    if policy is None:
        return None
    backend = build_backend(policy)
    semantic = None
    # a key or team may opt in (metadata.cache.semantic) where the index runs: a group with the
    # semantic cache on, or llmgate.cache.semantic configured
    if policy.any_semantic or "semantic" in config.llmgate.cache.model_fields_set:
        index = build_semantic_index(
            policy.semantic, policy.similarity_threshold, backend, policy.namespace, build_feed(policy)
        )
        semantic = (semantic_request, index)
    return ResponseCache(policy, backend, deployment=deployment, count=count, semantic=semantic)
