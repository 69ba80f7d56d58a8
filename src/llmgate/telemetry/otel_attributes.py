"""OpenTelemetry GenAI attribute sets for one recorded call (semantic conventions, ``gen_ai.*``).

Pure functions from a ``CallRecord``, its stored row and the parsed response to attribute
dictionaries: the request span's, each upstream attempt's, and the GenAI metrics'. Kept apart
from ``tracing.py`` (which owns the SDK objects) so the names can be read, and tested, in one
place. llmgate's own attributes are under ``llmgate.*``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from llmgate.protocol.endpoints import Endpoint
from llmgate.telemetry.answers import Parsed
from llmgate.telemetry.call_record import Attempt, CallRecord, fell_back

#: llmgate/litellm provider names -> ``gen_ai.provider.name`` well-known values (others pass as they are)
PROVIDERS = {
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "watsonx": "ibm.watsonx.ai",
    "xai": "x_ai",
}

#: request parameters -> ``gen_ai.request.*`` attributes
_REQUEST_PARAMS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
}


def operation(call: CallRecord) -> str:
    """``gen_ai.operation.name``: the endpoint's (``Endpoint.operation``), or the raw name of one
    this version does not know (a record replayed from another version's spill file)."""
    try:
        return Endpoint(call.endpoint).operation
    except ValueError:
        return call.endpoint or "unknown"


def provider_name(provider: str | None) -> str:
    if not provider:
        return "unknown"
    return PROVIDERS.get(provider, provider)


def _server(api_base: str | None) -> dict[str, Any]:
    if not api_base:
        return {}
    parts = urlsplit(api_base)
    if not parts.hostname:
        return {}
    out: dict[str, Any] = {"server.address": parts.hostname}
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    if port:
        out["server.port"] = port
    return out


def _request_params(request: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, name in _REQUEST_PARAMS.items():
        value = request.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = value
    stop = request.get("stop")
    if isinstance(stop, str):
        out["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        out["gen_ai.request.stop_sequences"] = stop
    return out


#: endpoints whose prompt is a list of messages (system messages among them, or beside them)
_MESSAGE_LISTS = frozenset({"chat/completions", "messages", "messages/count_tokens"})
#: endpoints with system instructions in a field of their own
_INSTRUCTIONS_FIELDS = frozenset({"messages", "messages/count_tokens", "responses"})


def _content(call: CallRecord, row: dict[str, Any], parsed: Parsed) -> dict[str, Any]:
    """Prompt and answer as the conventions' JSON message lists (only with capture_content)."""
    out: dict[str, Any] = {}
    request = call.request
    instructions: list[Any] = []
    if call.endpoint in _MESSAGE_LISTS and isinstance(request.get("messages"), list):
        system = [m for m in request["messages"] if isinstance(m, dict) and m.get("role") == "system"]
        others = [m for m in request["messages"] if isinstance(m, dict) and m.get("role") != "system"]
        out["gen_ai.input.messages"] = orjson.dumps(others).decode()
        instructions = [m.get("content") for m in system]
    elif "prompt" in request or "input" in request:
        value = request.get("prompt", request.get("input"))
        out["gen_ai.input.messages"] = orjson.dumps([{"role": "user", "content": value}]).decode()
    for field in ("system", "instructions"):  # Anthropic's Messages API, the Responses API
        if request.get(field) is not None and call.endpoint in _INSTRUCTIONS_FIELDS:
            instructions.append(request[field])
    if instructions:
        out["gen_ai.system_instructions"] = orjson.dumps(instructions).decode()
    if parsed.texts or parsed.tool_calls:
        message: dict[str, Any] = {"role": "assistant", "content": row.get("response_text")}
        if parsed.tool_calls:
            message["tool_calls"] = parsed.tool_calls
        if parsed.finish_reason:
            message["finish_reason"] = parsed.finish_reason
        out["gen_ai.output.messages"] = orjson.dumps([message]).decode()
    return out


def request_attributes(
    call: CallRecord, row: dict[str, Any], parsed: Parsed, *, capture_content: bool
) -> dict[str, Any]:
    """The request span's attributes."""
    deployment = call.deployment
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation(call),
        "gen_ai.provider.name": provider_name(deployment.provider if deployment else None),
        "gen_ai.request.model": call.model or "unknown",
        "http.response.status_code": call.status_code,
        "llmgate.request.id": call.id,
        "llmgate.attempts": len(call.attempts),
        "llmgate.fallback": fell_back(call),
        "llmgate.stream": call.stream,
    }
    attrs.update(_request_params(call.request))
    response_model = parsed.response_model or (deployment.upstream_model if deployment else None)
    if response_model:
        attrs["gen_ai.response.model"] = response_model
    if parsed.response_id:
        attrs["gen_ai.response.id"] = parsed.response_id
    if parsed.finish_reason:
        attrs["gen_ai.response.finish_reasons"] = [parsed.finish_reason]
    for column, name in (
        ("prompt_tokens", "gen_ai.usage.input_tokens"),
        ("completion_tokens", "gen_ai.usage.output_tokens"),
        ("cached_tokens", "gen_ai.usage.cache_read.input_tokens"),
        ("reasoning_tokens", "gen_ai.usage.reasoning.output_tokens"),
    ):
        if row.get(column) is not None:
            attrs[name] = int(row[column])
    if row.get("tokens_estimated"):
        attrs["llmgate.usage.estimated"] = True
    if row.get("cost_usd") is not None:
        attrs["llmgate.cost_usd"] = float(row["cost_usd"])
    if call.cache is not None:  # what the response cache did; a hit's cost is 0, its saving here
        attrs["llmgate.cache"] = call.cache
        if row.get("saved_usd") is not None:
            attrs["llmgate.cache.saved_usd"] = float(row["saved_usd"])
        if call.cache_similarity is not None:
            attrs["llmgate.cache.similarity"] = call.cache_similarity
    if deployment is not None:
        attrs["llmgate.deployment"] = deployment.id
        attrs.update(_server(deployment.api_base))
    if call.ttft_ms is not None:
        attrs["llmgate.time_to_first_token_s"] = round(call.ttft_ms / 1000, 6)
    if call.error_type:
        attrs["error.type"] = call.error_type
    for name, value in (("llmgate.key", call.auth_identity), ("llmgate.team", call.team_id)):
        if value:
            attrs[name] = value
    if call.user:
        attrs["user.id"] = call.user
    if call.session_id:  # the session: OpenTelemetry's and the GenAI conventions' names for it
        attrs["session.id"] = attrs["gen_ai.conversation.id"] = call.session_id
    if call.parent_id:
        attrs["llmgate.parent.id"] = call.parent_id
    if call.step:
        attrs["llmgate.step"] = call.step
    for tag, value in (call.tags or {}).items():
        attrs[f"llmgate.tag.{tag}"] = str(value)
    if capture_content and (deployment is None or deployment.log_prompts):
        attrs.update(_content(call, row, parsed))
    return attrs


def attempt_attributes(call: CallRecord, attempt: Attempt) -> dict[str, Any]:
    """An upstream attempt's span attributes."""
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation(call),
        "gen_ai.provider.name": provider_name(attempt.provider),
        "gen_ai.request.model": attempt.model or call.model or "unknown",
        "llmgate.deployment": attempt.deployment,
    }
    if attempt.status_code is not None:
        attrs["http.response.status_code"] = attempt.status_code
    if attempt.error_type:
        attrs["error.type"] = attempt.error_type
    deployment = call.deployment
    if deployment is not None and deployment.id == attempt.deployment:
        attrs.update(_server(deployment.api_base))
    return attrs


def metric_attributes(call: CallRecord, parsed: Parsed) -> dict[str, Any]:
    """Attributes of the ``gen_ai.client.*`` metrics (low cardinality: no ids, no keys)."""
    deployment = call.deployment
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation(call),
        "gen_ai.provider.name": provider_name(deployment.provider if deployment else None),
        "gen_ai.request.model": call.model or "unknown",
    }
    response_model = parsed.response_model or (deployment.upstream_model if deployment else None)
    if response_model:
        attrs["gen_ai.response.model"] = response_model
    if deployment is not None:
        attrs.update(_server(deployment.api_base))
    return attrs
