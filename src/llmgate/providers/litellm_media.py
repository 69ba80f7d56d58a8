"""Images, audio, moderation and rerank through litellm, for providers whose API is not OpenAI's.

``litellm_adapter.py`` (the only module that imports litellm) hands these endpoints here with the
litellm module and the keyword arguments it built for the deployment; this module picks litellm's
call (``aimage_generation``, ``aimage_edit``, ``aspeech``, ``atranscription``, ``amoderation``,
``arerank``), turns uploads into the ``(filename, bytes, content type)`` files litellm takes, and
rebuilds the answer field by field in OpenAI's shape (Cohere's for rerank, as LiteLLM's proxy
serves it), so nothing litellm adds reaches the client. Speech comes back as the audio bytes with
their content type. litellm has no translations call: those are refused with a 400.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from llmgate.config.deployment import Deployment
from llmgate.errors import UpstreamError, UpstreamRejected
from llmgate.protocol import error_body
from llmgate.protocol.endpoints import Endpoint
from llmgate.protocol.forms import Upload
from llmgate.providers.base import UpstreamResponse, media_answer

__all__ = ["ENDPOINTS", "call", "refuse_stream"]

ENDPOINTS = frozenset(
    {
        Endpoint.IMAGES_GENERATIONS,
        Endpoint.IMAGES_EDITS,
        Endpoint.AUDIO_SPEECH,
        Endpoint.AUDIO_TRANSCRIPTIONS,
        Endpoint.AUDIO_TRANSLATIONS,
        Endpoint.MODERATIONS,
        Endpoint.RERANK,
    }
)
#: litellm's function for each endpoint
_FUNCTIONS = {
    Endpoint.IMAGES_GENERATIONS: "aimage_generation",
    Endpoint.IMAGES_EDITS: "aimage_edit",
    Endpoint.AUDIO_SPEECH: "aspeech",
    Endpoint.AUDIO_TRANSCRIPTIONS: "atranscription",
    Endpoint.MODERATIONS: "amoderation",
    Endpoint.RERANK: "arerank",
}
#: what each answer keeps (OpenAI's fields; Cohere's for rerank)
_FIELDS = {
    Endpoint.IMAGES_GENERATIONS: (
        "created",
        "data",
        "usage",
        "background",
        "output_format",
        "quality",
        "size",
    ),
    Endpoint.AUDIO_TRANSCRIPTIONS: ("text", "task", "language", "duration", "segments", "words", "usage"),
    Endpoint.MODERATIONS: ("id", "model", "results"),
    Endpoint.RERANK: ("id", "results", "meta"),
}
_FIELDS[Endpoint.IMAGES_EDITS] = _FIELDS[Endpoint.IMAGES_GENERATIONS]
_IMAGE_FIELDS = ("b64_json", "url", "revised_prompt")


def _rejected(deployment: Deployment, message: str, param: str | None = None) -> UpstreamRejected:
    return UpstreamRejected(
        f"{deployment.id}: {message}",
        status=400,
        body=error_body(message, "invalid_request_error", param=param),
        deployment=deployment.id,
    )


def refuse_stream(deployment: Deployment, endpoint: Endpoint) -> UpstreamRejected:
    """The 400 for a streamed request to one of ``ENDPOINTS`` (litellm streams none of them)."""
    return _rejected(deployment, f"/v1/{endpoint.value} cannot be streamed through litellm.", "stream")


def _file(value: Any) -> Any:
    """An upload as litellm takes a file (a copy of its bytes: litellm builds its own request)."""
    if isinstance(value, Upload):
        return (value.filename, bytes(value.data), value.content_type)
    if isinstance(value, list):
        return [_file(item) for item in value]
    return value


def _arguments(endpoint: Endpoint, kwargs: dict[str, Any]) -> dict[str, Any]:
    arguments = {
        k: v for k, v in kwargs.items() if k not in ("_skip_mcp_handler", "stream", "stream_options")
    }
    for name in list(arguments):
        if name.endswith("[]"):  # a repeated form field (``image[]``, ``timestamp_granularities[]``)
            value = arguments.pop(name)
            arguments[name[:-2]] = value if isinstance(value, list) else [value]
    for name in ("file", "image", "mask"):
        if name in arguments:
            arguments[name] = _file(arguments[name])
    if endpoint is Endpoint.IMAGES_EDITS and isinstance(arguments.get("n"), str):
        arguments["n"] = int(arguments["n"]) if arguments["n"].isdigit() else arguments["n"]
    return arguments


async def call(
    lm: Any, deployment: Deployment, endpoint: Endpoint, kwargs: dict[str, Any]
) -> UpstreamResponse:
    """Call litellm for ``endpoint``; litellm's exceptions are left to the adapter to translate."""
    name = _FUNCTIONS.get(endpoint)
    if name is None:
        raise _rejected(deployment, f"/v1/{endpoint.value} is not available through litellm for this model.")
    result = await getattr(lm, name)(**_arguments(endpoint, kwargs))
    if endpoint is Endpoint.AUDIO_SPEECH:
        audio = bytes(result.content)
        content_type = str(result.response.headers.get("content-type") or "audio/mpeg")
        return UpstreamResponse(200, audio, content_type, recorded=media_answer(audio, content_type))
    try:
        payload = _shaped(endpoint, result)
    except (AttributeError, TypeError, ValueError) as exc:
        raise UpstreamError(
            f"{deployment.provider} ({deployment.id}): unreadable response: {exc}", deployment=deployment.id
        ) from exc
    return UpstreamResponse(200, orjson.dumps(payload))


def _plain(result: Any) -> dict[str, Any]:
    dump: Callable[..., Any] | None = getattr(result, "model_dump", None)
    data = dump(mode="json", exclude_none=True) if dump is not None else dict(result)
    if not isinstance(data, dict):
        raise TypeError(f"expected an object, got {type(data).__name__}")
    return data


def _shaped(endpoint: Endpoint, result: Any) -> dict[str, Any]:
    data = _plain(result)
    fields = _FIELDS.get(endpoint, _FIELDS[Endpoint.AUDIO_TRANSCRIPTIONS])
    shaped = {k: data[k] for k in fields if data.get(k) is not None}
    if endpoint in (Endpoint.IMAGES_GENERATIONS, Endpoint.IMAGES_EDITS):
        images = shaped.get("data") or []
        shaped["data"] = [{k: i[k] for k in _IMAGE_FIELDS if i.get(k) is not None} for i in images]
    if endpoint is Endpoint.RERANK:
        shaped["results"] = [
            {k: r[k] for k in ("index", "relevance_score", "document") if k in r}
            for r in shaped.get("results") or []
        ]
    return shaped
