"""Deployments: the resolved, ready-to-call form of ``model_list`` entries.

A ``Deployment`` is what routing picks and a provider calls: one upstream model at one
address with its key, timeouts and prices. Model groups (entries sharing ``model_name``)
map an alias the client sends to one or more deployments.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
from dataclasses import dataclass, field, fields
from decimal import Decimal
from operator import attrgetter
from typing import Any

from llmgate.config.provider_kinds import DEFAULT_API_BASES
from llmgate.config.schema import GatewayConfig, ModelEntry


@dataclass(frozen=True, slots=True)
class Deployment:
    id: str
    model_name: str
    provider: str
    upstream_model: str
    litellm_model: str
    api_base: str | None
    api_key: str | None = field(repr=False)
    api_version: str | None
    organization: str | None
    extra_headers: dict[str, str]
    timeout: float | None
    stream_timeout: float | None
    rpm: int | None
    tpm: int | None
    weight: float
    mode: str | None
    base_model: str | None
    input_cost_per_token: Decimal | None
    output_cost_per_token: Decimal | None
    cache_read_input_token_cost: Decimal | None
    output_cost_per_reasoning_token: Decimal | None
    log_prompts: bool
    request_defaults: dict[str, Any]
    provider_kwargs: dict[str, Any]
    mock_response: str | None
    mock_latency_ms: float
    mock_chunk_delay_ms: float
    mock_failure_rate: float
    mock_seed: int | None
    responses_api: bool | None = None  # model_info.responses_api (apis/responses_choice.py)
    cache_creation_input_token_cost: Decimal | None = None  # writing Anthropic's prompt cache
    # a canary's variant of a deployment (routing/canaries.py), applied by the gateway's _body_for:
    request_overrides: dict[str, Any] = field(default_factory=dict)  # forced onto the request body
    system_prompt: str | None = None  # replaces the first system message of a chat request, or goes first
    #: this deployment's values as one pickle, made the first time a record carrying it is pickled
    _pickled: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __reduce__(self) -> tuple[Any, ...]:
        # Every record crossing the pipe to the writer process carries its deployment. Pickled
        # field by field (35 of them, Decimals among them), it cost ~8 µs of the gateway's CPU a
        # record; as a blob made once it is one bytes object, and the writer unpickles each blob
        # once (``from_blob``'s cache).
        return (from_blob, (self.blob(),))

    def blob(self) -> bytes:
        """This deployment's values as one pickle, made once (``from_blob`` gives it back)."""
        blob = self._pickled
        if blob is None:
            blob = pickle.dumps(_deployment_values(self), protocol=pickle.HIGHEST_PROTOCOL)
            object.__setattr__(self, "_pickled", blob)
        return blob

    @property
    def price_key(self) -> str:
        """The name to look up in litellm's price map."""
        return self.base_model or self.upstream_model


_deployment_values = attrgetter(*(f.name for f in fields(Deployment) if f.init))


@functools.lru_cache(maxsize=256)
def from_blob(blob: bytes) -> Deployment:
    """A deployment from ``Deployment.blob`` (one object per blob: it is immutable); records carry
    their deployment's blob across the pipe to the writer (``telemetry/call_record.py``)."""
    return Deployment(*pickle.loads(blob))


def _deployment_id(entry: ModelEntry, index: int) -> str:
    if entry.model_info.id:
        return entry.model_info.id
    p = entry.litellm_params
    digest = hashlib.sha256(f"{entry.model_name}|{p.model}|{p.api_base}|{index}".encode()).hexdigest()
    return f"{entry.model_name}-{digest[:8]}"


def build_deployment(entry: ModelEntry, index: int, *, global_log_prompts: bool) -> Deployment:
    p = entry.litellm_params
    info = entry.model_info
    log_prompts = next(
        (v for v in (entry.log_prompts, p.log_prompts, info.log_prompts) if v is not None), global_log_prompts
    )
    api_base = (p.api_base or DEFAULT_API_BASES.get(p.provider) or "") or None
    return Deployment(
        id=_deployment_id(entry, index),
        model_name=entry.model_name,
        provider=p.provider,
        upstream_model=p.upstream_model,
        litellm_model=p.model,
        api_base=api_base.rstrip("/") if api_base else None,
        api_key=p.api_key.get_secret_value() if p.api_key else None,
        api_version=p.api_version,
        organization=p.organization,
        extra_headers=dict(p.extra_headers or {}),
        timeout=p.timeout,
        stream_timeout=p.stream_timeout,
        rpm=p.rpm,
        tpm=p.tpm,
        weight=p.weight if p.weight is not None else 1.0,
        mode=info.mode,
        base_model=info.base_model,
        input_cost_per_token=p.input_cost_per_token
        if p.input_cost_per_token is not None
        else info.input_cost_per_token,
        output_cost_per_token=p.output_cost_per_token
        if p.output_cost_per_token is not None
        else info.output_cost_per_token,
        cache_read_input_token_cost=p.cache_read_input_token_cost,
        output_cost_per_reasoning_token=p.output_cost_per_reasoning_token,
        log_prompts=log_prompts,
        request_defaults=p.request_defaults(),
        provider_kwargs=p.provider_kwargs(),
        mock_response=p.mock_response,
        mock_latency_ms=p.mock_latency_ms,
        mock_chunk_delay_ms=p.mock_chunk_delay_ms,
        mock_failure_rate=p.mock_failure_rate,
        mock_seed=p.mock_seed,
        responses_api=info.responses_api,
        cache_creation_input_token_cost=p.cache_creation_input_token_cost,
    )


def build_deployments(config: GatewayConfig) -> list[Deployment]:
    return [
        build_deployment(entry, i, global_log_prompts=config.llmgate.log_prompts)
        for i, entry in enumerate(config.model_list)
    ]
