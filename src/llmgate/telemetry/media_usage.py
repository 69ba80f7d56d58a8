"""What a call to images, audio, moderation or rerank made, in its own units, for its record.

These endpoints are not priced by tokens, and their answers are not chat choices, so ``to_row``
(``call_record.py``) hands them here for the columns that differ:

- the units, kept under ``llmgate_usage`` in the record's ``metadata_json`` (the table has no
  column per unit): ``images``, ``size`` and ``quality``; ``seconds`` of audio (the upstream's
  ``duration`` or ``usage.seconds``, else the uploaded WAV's header, ``protocol/forms.py``);
  ``characters`` of speech input and the ``answer``'s size and type (never its bytes:
  ``UpstreamResponse.recorded``); ``search_units`` and ``documents`` of a rerank; ``inputs`` and
  ``flagged`` of a moderation;
- tokens, when the upstream reports them (gpt-image and gpt-4o-transcribe do), in the token columns;
- the cost, from the price map's per-unit prices (``pricing/units.py``);
- a transcript's text as ``response_text`` (unless the deployment does not log prompts).

The uploaded files are recorded by their description only (file name, size, content type), which
is all ``request`` holds of them.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Protocol

import orjson

from llmgate.config.deployment import Deployment
from llmgate.pricing import PriceBook
from llmgate.pricing.units import MediaUsage, media_cost
from llmgate.protocol.redact import redact_text

__all__ = ["ENDPOINTS", "PROMPT_FIELDS", "media_columns"]

_IMAGES = frozenset({"images/generations", "images/edits"})
_TRANSCRIPTS = frozenset({"audio/transcriptions", "audio/translations"})
ENDPOINTS = _IMAGES | _TRANSCRIPTS | {"audio/speech", "moderations", "rerank"}
#: the field of a request that holds its prompt, where it is not ``input`` (``prompts.prompt_of``)
PROMPT_FIELDS = {"images/generations": "prompt", "images/edits": "prompt", "rerank": "query"}
#: Cohere bills one search unit per query of up to this many documents
DOCUMENTS_PER_SEARCH_UNIT = 100


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**40
    return value if ok else None


def _seconds(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e9
    return float(value) if ok else None


def _answer(body: bytes | None) -> tuple[dict[str, Any] | None, str | None]:
    """The answer as a JSON object, or (a transcript as text, SRT or VTT) as text."""
    if not body:
        return None, None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, body.decode("utf-8", "replace")
    return (data, None) if isinstance(data, dict) else (None, None)


def _size(request: dict[str, Any]) -> tuple[str | None, int | None]:
    size = request.get("size")
    if not isinstance(size, str) or not size:
        return None, None
    width, _, height = size.partition("x")
    pixels = int(width) * int(height) if width.isdigit() and height.isdigit() else None
    return size, pixels


def _images(request: dict[str, Any], data: dict[str, Any]) -> tuple[MediaUsage, dict[str, Any], list[str]]:
    images = data.get("data")
    count = len(images) if isinstance(images, list) else _count(request.get("n")) or 1
    size, pixels = _size(request)
    quality = request.get("quality") if isinstance(request.get("quality"), str) else None
    usage = _dict(data.get("usage"))
    units: dict[str, Any] = {"images": count, "size": size, "quality": quality}
    media = MediaUsage(
        images=count,
        pixels=pixels,
        input_tokens=_count(usage.get("input_tokens")),
        output_tokens=_count(usage.get("output_tokens")),
    )
    dashed = size.replace("x", "-x-") if size else None
    variants = ([f"{quality}/{dashed}"] if quality else []) + [dashed] if dashed else []
    return media, units, variants


def _transcript(request: dict[str, Any], data: dict[str, Any]) -> tuple[MediaUsage, dict[str, Any]]:
    usage = _dict(data.get("usage"))
    upload = request.get("file")
    seconds = _seconds(data.get("duration"))
    if seconds is None and usage.get("type") == "duration":
        seconds = _seconds(usage.get("seconds"))
    if seconds is None and isinstance(upload, dict):
        seconds = _seconds(upload.get("seconds"))
    tokens = usage.get("type") == "tokens" or "input_tokens" in usage
    media = MediaUsage(
        seconds=seconds,
        input_tokens=_count(usage.get("input_tokens")) if tokens else None,
        output_tokens=_count(usage.get("output_tokens")) if tokens else None,
        audio_tokens=_count(_dict(usage.get("input_token_details")).get("audio_tokens")) if tokens else None,
    )
    return media, {"seconds": seconds}


def _rerank(request: dict[str, Any], data: dict[str, Any]) -> tuple[MediaUsage, dict[str, Any]]:
    documents = request.get("documents")
    count = len(documents) if isinstance(documents, list) else 0
    billed = _dict(_dict(data.get("meta")).get("billed_units"))
    units = _count(billed.get("search_units"))
    if units is None:
        units = max(1, math.ceil(count / DOCUMENTS_PER_SEARCH_UNIT))
    return MediaUsage(search_units=units), {"search_units": units, "documents": count}


class Call(Protocol):
    """What this module reads of a ``call_record.CallRecord`` (which imports this module)."""

    endpoint: str
    request: dict[str, Any]
    response_body: bytes | None
    deployment: Deployment | None


def media_columns(call: Call, prices: PriceBook, metadata: dict[str, Any] | None) -> dict[str, Any]:
    """The columns of a successful call to one of ``ENDPOINTS`` that ``to_row`` does not know
    (``metadata``: the record's, redacted)."""
    endpoint, request, deployment = call.endpoint, call.request, call.deployment
    data, text = _answer(call.response_body)
    data = data or {}
    variants: list[str] = []
    if endpoint in _IMAGES:
        media, units, variants = _images(request, data)
    elif endpoint in _TRANSCRIPTS:
        media, units = _transcript(request, data)
        text = data["text"] if isinstance(data.get("text"), str) else text
    elif endpoint == "audio/speech":
        spoken = request.get("input")
        characters = len(spoken) if isinstance(spoken, str) else 0
        media, units = MediaUsage(characters=characters), {"characters": characters}
        if data.get("object") == "binary":  # the answer's description (``UpstreamResponse.recorded``)
            units["answer"] = {"size": data.get("size"), "content_type": data.get("content_type")}
    elif endpoint == "moderations":
        results = data.get("results")
        results = results if isinstance(results, list) else []
        flagged = sum(1 for r in results if isinstance(r, dict) and r.get("flagged") is True)
        media, units = MediaUsage(inputs=len(results)), {"inputs": len(results), "flagged": flagged}
    else:
        media, units = _rerank(request, data)
    columns: dict[str, Any] = {"tokens_estimated": False}
    if media.input_tokens is not None or media.output_tokens is not None:
        columns["prompt_tokens"], columns["completion_tokens"] = media.input_tokens, media.output_tokens
        columns["total_tokens"] = (media.input_tokens or 0) + (media.output_tokens or 0)
    cost: Decimal | None
    if deployment is None:
        cost = None
    elif deployment.provider == "mock" and deployment.input_cost_per_token is None:
        cost = Decimal(0)  # mock/ is free, as its chat is
    else:
        entry = prices.entry(deployment, tuple(variants))
        cost = media_cost(media, entry, prices.lookup(deployment))
    columns["cost_usd"], columns["cost_unknown"] = cost, cost is None
    log_prompts = deployment.log_prompts if deployment is not None else True
    if text is not None and endpoint in _TRANSCRIPTS:
        columns["response_text"] = redact_text(text) if log_prompts else None
        columns["response_chars"] = len(text)
    recorded = {k: v for k, v in units.items() if v is not None}
    columns["metadata_json"] = orjson.dumps({**(metadata or {}), "llmgate_usage": recorded}).decode()
    return columns
