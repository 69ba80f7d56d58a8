"""The response cache's settings: LiteLLM's ``litellm_settings.cache_params`` and llmgate's own
``llmgate.cache`` section.

LiteLLM's keys keep LiteLLM's meanings: ``type`` (``local``, ``redis``, ``redis-semantic``: the
semantic cache on for every model group), ``host``/``port``/``password`` or ``redis_url``, ``ttl``
(seconds; 3600 when unset), ``similarity_threshold``, ``namespace`` and ``supported_call_types``
(LiteLLM's call names: ``completion`` is chat completions, ``text_completion`` completions,
``embedding`` embeddings, each with its ``a``-prefixed twin). Other keys LiteLLM's ``Cache`` takes
(S3, Qdrant, disk, ``mode``, ...) are accepted and reported at start-up as not implemented, as are
call types llmgate does not cache; a key neither knows is an error.

``llmgate.cache`` (strict) says whose answers are shared (``scope``), bounds the in-process backend
(``max_bytes``) and Redis lookups (``lookup_timeout_ms``), turns either cache on or off per model
group (``models``), and when a request may be answered semantically (``semantic``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmgate.config.schema_base import Strict

__all__ = [
    "CALL_TYPES",
    "DEFAULT_SIMILARITY_THRESHOLD",
    "DEFAULT_TTL_S",
    "CacheParams",
    "CacheSettings",
    "ModelCacheSettings",
    "SemanticCacheSettings",
]

#: the semantic cache's default ``similarity_threshold`` (cosine of the last user turns'
#: all-MiniLM-L6-v2 embeddings), measured by ``benchmarks/cache_threshold.py`` on
#: ``paraphrase_dev.jsonl``: 0.48% false hits, 3.1% of duplicates hit (README, "Semantic cache")
DEFAULT_SIMILARITY_THRESHOLD = 0.99
#: ``cache_params.ttl`` when unset: an hour
DEFAULT_TTL_S = 3600.0
#: the in-process backend's default bound
DEFAULT_MAX_BYTES = 256 * 1024 * 1024

#: LiteLLM's call types that llmgate caches, and the endpoint each is
CALL_TYPES = {
    "completion": "chat/completions",
    "acompletion": "chat/completions",
    "text_completion": "completions",
    "atext_completion": "completions",
    "embedding": "embeddings",
    "aembedding": "embeddings",
}

#: the other keys LiteLLM's ``Cache(...)`` (and its Redis client) take: accepted, not implemented
_LITELLM_ONLY = frozenset(
    {
        "mode",
        "username",
        "url",
        "ssl",
        "ssl_cert_reqs",
        "default_in_memory_ttl",
        "default_in_redis_ttl",
        "max_connections",
        "socket_timeout",
        "service_name",
        "sentinel_nodes",
        "sentinel_password",
        "startup_nodes",
        "redis_startup_nodes",
        "redis_flush_size",
        "redis_semantic_cache_use_async",
        "redis_semantic_cache_embedding_model",
        "redis_semantic_cache_index_name",
        "disk_cache_dir",
        "s3_bucket_name",
        "s3_region_name",
        "s3_api_version",
        "s3_use_ssl",
        "s3_verify",
        "s3_endpoint_url",
        "s3_aws_access_key_id",
        "s3_aws_secret_access_key",
        "s3_aws_session_token",
        "s3_config",
        "s3_path",
        "qdrant_api_base",
        "qdrant_api_key",
        "qdrant_collection_name",
        "qdrant_quantization_config",
        "qdrant_semantic_cache_embedding_model",
        "qdrant_semantic_cache_vector_size",
        "azure_account_url",
        "azure_blob_container",
        "gcs_bucket_name",
        "gcs_path_service_account",
        "gcs_path",
    }
)


class CacheParams(BaseModel):
    """``litellm_settings.cache_params``: where the cache lives and for how long, LiteLLM's way."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Literal["local", "redis", "redis-semantic"] = "local"
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    password: str | None = None
    redis_url: str | None = None
    ttl: float | None = Field(default=None, gt=0)  # seconds; DEFAULT_TTL_S when unset
    similarity_threshold: float | None = Field(default=None, gt=0, le=1)
    namespace: str | None = Field(default=None, min_length=1)
    supported_call_types: list[str] | None = None  # None: the three llmgate caches

    @model_validator(mode="after")
    def _only_known_extra(self) -> CacheParams:
        for key in self.model_extra or {}:
            if key not in _LITELLM_ONLY:
                raise ValueError(f"unknown key {key!r}")
        return self

    def unimplemented(self) -> list[str]:
        """LiteLLM's keys given here that llmgate ignores, and call types it does not cache."""
        found = sorted(self.model_extra or {})
        found += [
            f"supported_call_types: {name} (not cached)"
            for name in self.supported_call_types or []
            if name not in CALL_TYPES
        ]
        return found

    def endpoints(self) -> frozenset[str]:
        """The endpoints cached (``chat/completions``, ``completions``, ``embeddings`` by default)."""
        names = CALL_TYPES if self.supported_call_types is None else self.supported_call_types
        return frozenset(CALL_TYPES[name] for name in names if name in CALL_TYPES)

    @property
    def ttl_s(self) -> float:
        return self.ttl if self.ttl is not None else DEFAULT_TTL_S


class ModelCacheSettings(Strict):
    """``llmgate.cache.models.<group>``: either cache on or off for one model group (unset: as
    ``litellm_settings`` says; a group named here has the exact cache unless it says otherwise)."""

    exact: bool | None = None
    semantic: bool | None = None


class SemanticCacheSettings(Strict):
    """``llmgate.cache.semantic``: which requests may be answered by a similar earlier one."""

    max_temperature: float = Field(default=1.0, ge=0)  # a request without temperature counts as 1.0
    allow_tools: bool = False  # requests with tools: only when their tools are all in safe_tools
    safe_tools: list[str] = Field(default_factory=list)  # tool names without side effects
    max_entries: int = Field(default=100_000, ge=1)  # vectors kept per process


class CacheSettings(Strict):
    """``llmgate.cache``: whose answers are shared, bounds, and the cache per model group."""

    scope: Literal["team", "key", "global"] = "team"
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1024)  # the in-process backend's bound
    lookup_timeout_ms: float = Field(default=5.0, gt=0)  # a slower lookup is a skipped, counted miss
    near_ttl_s: float = Field(default=10.0, ge=0)  # Redis entries also kept in-process this long (0: never)
    models: dict[str, ModelCacheSettings] = Field(default_factory=dict)
    semantic: SemanticCacheSettings = SemanticCacheSettings()
