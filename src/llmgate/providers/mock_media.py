"""The ``mock/`` provider's answers beyond text: images, speech, transcripts, moderation, rerank.

Deterministic, so the default config can try every endpoint without a provider key and tests can
assert what comes back:

- ``images/generations`` and ``images/edits``: ``n`` copies of a 1x1 PNG, as ``b64_json`` (a
  ``data:`` URL when ``response_format`` is ``url``), with the prompt as ``revised_prompt``;
- ``audio/speech``: a few silent MPEG frames (``audio/mpeg``), or a short silent WAV when
  ``response_format`` is ``wav`` or ``pcm``;
- ``audio/transcriptions`` and ``audio/translations``: "Mock transcript of NAME (S s)." in the
  ``response_format`` asked for (``json``, ``text``, ``verbose_json``, ``srt``, ``vtt``), with the
  duration read from the upload's WAV header (``protocol/forms.py``);
- ``moderations``: flagged when an input has one of ``FLAGGED_WORDS`` (category ``violence``);
- ``rerank``: documents scored by the share of the query's words they contain, best first.

Streaming these is refused with a 400, as a real upstream refuses a parameter it does not take.
"""

from __future__ import annotations

import base64
import io
import re
import time
import uuid
import wave
from typing import Any

import orjson

from llmgate.config.deployment import Deployment
from llmgate.errors import UpstreamRejected
from llmgate.protocol import error_body
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.base import UpstreamResponse, media_answer

__all__ = ["ENDPOINTS", "FLAGGED_WORDS", "PNG", "answer", "refuse_stream"]

#: a 1x1 transparent PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
#: an MPEG-1 Layer III frame header (128 kb/s, 44.1 kHz, mono) and a silent frame's body
_MP3_FRAME = bytes.fromhex("fffb90c4") + bytes(413)
FLAGGED_WORDS = frozenset({"kill", "murder", "attack"})
_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
_WORD = re.compile(r"\w+")
_FORMATS = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac"}

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


def _rejected(deployment: Deployment, message: str, param: str) -> UpstreamRejected:
    return UpstreamRejected(
        f"mock deployment {deployment.id} refused {param}",
        status=400,
        body=error_body(message, "invalid_request_error", param=param, code="invalid_value"),
        deployment=deployment.id,
    )


def refuse_stream(deployment: Deployment, endpoint: Endpoint) -> UpstreamRejected:
    """The 400 for a streamed request to one of ``ENDPOINTS``."""
    return _rejected(deployment, f"The mock provider does not stream /v1/{endpoint.value}.", "stream")


def answer(deployment: Deployment, endpoint: Endpoint, body: dict[str, Any]) -> UpstreamResponse:
    """The mock's answer to a request for one of ``ENDPOINTS``."""
    if endpoint in (Endpoint.IMAGES_GENERATIONS, Endpoint.IMAGES_EDITS):
        return _json(_images(deployment, body))
    if endpoint is Endpoint.AUDIO_SPEECH:
        return _speech(body)
    if endpoint in (Endpoint.AUDIO_TRANSCRIPTIONS, Endpoint.AUDIO_TRANSLATIONS):
        return _transcript(endpoint, body)
    if endpoint is Endpoint.MODERATIONS:
        return _json(_moderation(deployment, body))
    return _json(_rerank(deployment, body))


def _json(payload: dict[str, Any]) -> UpstreamResponse:
    return UpstreamResponse(200, orjson.dumps(payload))


def _images(deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
    n = body.get("n") or 1
    if type(n) is not int or not 1 <= n <= 10:
        raise _rejected(deployment, "'n' must be a whole number from 1 to 10.", "n")
    encoded = base64.b64encode(PNG).decode()
    prompt = str(body.get("prompt") or "")
    if body.get("response_format") == "url":
        item = {"url": "data:image/png;base64," + encoded, "revised_prompt": prompt}
    else:
        item = {"b64_json": encoded, "revised_prompt": prompt}
    return {"created": int(time.time()), "data": [dict(item) for _ in range(n)]}


def _silent_wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(bytes(2 * int(8000 * seconds)))
    return out.getvalue()


def _speech(body: dict[str, Any]) -> UpstreamResponse:
    words = len(str(body.get("input") or "").split())
    seconds = min(10.0, 0.1 + 0.05 * words)  # short: a mock does not need the real length
    fmt = body.get("response_format") or "mp3"
    if fmt in ("wav", "pcm"):
        audio, content_type = _silent_wav(seconds), "audio/wav" if fmt == "wav" else "audio/pcm"
    else:
        audio, content_type = _MP3_FRAME * max(1, round(seconds * 38)), _FORMATS.get(fmt, "audio/mpeg")
    return UpstreamResponse(200, audio, content_type, recorded=media_answer(audio, content_type))


def _transcript(endpoint: Endpoint, body: dict[str, Any]) -> UpstreamResponse:
    upload = body.get("file")
    upload = upload if isinstance(upload, dict) else {}
    seconds = upload.get("seconds")
    seconds = float(seconds) if isinstance(seconds, int | float) else 1.0
    text = f"Mock transcript of {upload.get('filename') or 'the audio'} ({seconds:g} s)."
    fmt = body.get("response_format") or "json"
    if fmt == "text":
        return UpstreamResponse(200, text.encode(), "text/plain; charset=utf-8")
    if fmt in ("srt", "vtt"):
        end = time.strftime("%H:%M:%S", time.gmtime(seconds)) + (",000" if fmt == "srt" else ".000")
        cue = f"00:00:00{',000' if fmt == 'srt' else '.000'} --> {end}\n{text}\n"
        document = f"1\n{cue}" if fmt == "srt" else f"WEBVTT\n\n{cue}"
        return UpstreamResponse(200, document.encode(), "text/plain; charset=utf-8")
    usage = {"type": "duration", "seconds": max(1, round(seconds))}
    if fmt == "verbose_json":
        task = "transcribe" if endpoint is Endpoint.AUDIO_TRANSCRIPTIONS else "translate"
        segment = {"id": 0, "start": 0.0, "end": seconds, "text": text}
        payload = {"task": task, "language": "english", "duration": seconds, "text": text}
        return _json({**payload, "segments": [segment], "usage": usage})
    return _json({"text": text, "usage": usage})


def _moderation(deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    results = []
    for item in items:
        text = item.get("text", "") if isinstance(item, dict) else str(item or "")
        flagged = not FLAGGED_WORDS.isdisjoint(w.lower() for w in _WORD.findall(text))
        categories = {name: flagged and name == "violence" for name in _CATEGORIES}
        scores = {name: (0.9 if flagged and name == "violence" else 0.0001) for name in _CATEGORIES}
        results.append({"flagged": flagged, "categories": categories, "category_scores": scores})
    return {"id": f"modr-{uuid.uuid4().hex}", "model": deployment.upstream_model, "results": results}


def _rerank(deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
    documents = body.get("documents")
    if not isinstance(documents, list) or not documents:
        raise _rejected(deployment, "'documents' must be a non-empty array.", "documents")
    query = {w.lower() for w in _WORD.findall(str(body.get("query") or ""))}
    scored = []
    for index, document in enumerate(documents):
        text = document.get("text", "") if isinstance(document, dict) else str(document)
        words = {w.lower() for w in _WORD.findall(str(text))}
        score = round(len(query & words) / len(query), 6) if query else 0.0
        scored.append((-score, index, text))
    top_n = body.get("top_n")
    count = top_n if type(top_n) is int and 0 < top_n < len(scored) else len(scored)
    results = []
    for negative, index, text in sorted(scored)[:count]:
        result: dict[str, Any] = {"index": index, "relevance_score": -negative}
        if body.get("return_documents"):
            result["document"] = {"text": text}
        results.append(result)
    meta = {"billed_units": {"search_units": 1}}
    return {"id": f"rerank-{uuid.uuid4().hex}", "results": results, "meta": meta}
