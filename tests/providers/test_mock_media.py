"""The mock provider's images, speech, transcripts, moderation and rerank: deterministic answers."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from llmgate.config import build_deployments, parse_config
from llmgate.config.deployment import Deployment
from llmgate.errors import UpstreamRejected
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.mock import MockProvider
from llmgate.providers.mock_media import PNG


@pytest.fixture
def deployment() -> Deployment:
    config = parse_config({"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/media"}}]})
    return build_deployments(config)[0]


async def _send(deployment: Deployment, endpoint: Endpoint, body: dict[str, Any]) -> tuple[bytes, str]:
    answer = await MockProvider().send(deployment, endpoint, {"model": "media", **body}, timeout=5)
    return answer.body, answer.content_type


async def test_images(deployment: Deployment) -> None:
    body, _ = await _send(deployment, Endpoint.IMAGES_GENERATIONS, {"prompt": "a cat", "n": 2})
    data = orjson.loads(body)["data"]
    assert [base64.b64decode(i["b64_json"]) for i in data] == [PNG, PNG] and data[0][
        "revised_prompt"
    ] == "a cat"
    body, _ = await _send(deployment, Endpoint.IMAGES_GENERATIONS, {"prompt": "x", "response_format": "url"})
    assert orjson.loads(body)["data"][0]["url"].startswith("data:image/png;base64,")


async def test_speech_and_transcripts(deployment: Deployment) -> None:
    audio, content_type = await _send(deployment, Endpoint.AUDIO_SPEECH, {"input": "hello", "voice": "alloy"})
    assert content_type == "audio/mpeg" and audio[:2] == b"\xff\xfb"
    audio, content_type = await _send(
        deployment, Endpoint.AUDIO_SPEECH, {"input": "hi", "response_format": "wav"}
    )
    assert content_type == "audio/wav" and audio[:4] == b"RIFF"
    upload = {"filename": "a.wav", "size": 10, "content_type": "audio/wav", "seconds": 2.0}
    body, _ = await _send(deployment, Endpoint.AUDIO_TRANSCRIPTIONS, {"file": upload})
    assert orjson.loads(body) == {
        "text": "Mock transcript of a.wav (2 s).",
        "usage": {"type": "duration", "seconds": 2},
    }
    text, content_type = await _send(
        deployment, Endpoint.AUDIO_TRANSLATIONS, {"file": upload, "response_format": "srt"}
    )
    assert content_type.startswith("text/plain") and text.startswith(b"1\n00:00:00,000 --> 00:00:02,000\n")


async def test_moderation_and_rerank(deployment: Deployment) -> None:
    body, _ = await _send(deployment, Endpoint.MODERATIONS, {"input": ["hello", "they attack"]})
    assert [r["flagged"] for r in orjson.loads(body)["results"]] == [False, True]
    body, _ = await _send(
        deployment,
        Endpoint.RERANK,
        {"query": "red apple", "documents": ["a red apple", "blue", "apple"], "top_n": 2},
    )
    assert [(r["index"], r["relevance_score"]) for r in orjson.loads(body)["results"]] == [(0, 1.0), (2, 0.5)]


async def test_streaming_media_is_refused(deployment: Deployment) -> None:
    with pytest.raises(UpstreamRejected) as refused:
        await MockProvider().open_stream(deployment, Endpoint.IMAGES_GENERATIONS, {"prompt": "x"}, timeout=5)
    assert refused.value.status_code == 400
