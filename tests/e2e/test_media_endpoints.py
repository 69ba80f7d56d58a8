"""Images, audio, moderation and rerank through a real gateway on loopback, with the official SDK.

Each endpoint to an OpenAI-compatible deployment (passed through to ``support.media_upstream``,
which keeps what arrived: the client's multipart bytes with only ``model`` changed, the file
bytes), to the built-in mock provider, and rerank through litellm to Cohere's API (a loopback
fake in its place). Every call is recorded once with its endpoint, its units and, when the price
map has a price, its cost; the uploaded file and the audio answer are not in the store.
"""

from __future__ import annotations

import base64
import io
import math
import struct
import warnings
import wave
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from llmgate.store.records import list_records
from support.configs import MASTER_KEY
from support.gateway import RunningGateway
from support.media_upstream import PNG, SPEECH, TRANSCRIPT, MediaUpstream
from support.raw_http import connect, read_response

LIMIT = 400_000  # bytes: llmgate.max_request_body_bytes here


def sine_wav(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    """A real WAV file: ``seconds`` of a 440 Hz tone, 16-bit mono."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        frames = (int(12_000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(rate * seconds)))
        writer.writeframes(b"".join(struct.pack("<h", f) for f in frames))
    return out.getvalue()


WAV = sine_wav()


@pytest.fixture(scope="module")
def upstream() -> Iterator[MediaUpstream]:
    server = MediaUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream: MediaUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = tmp_path_factory.mktemp("media")

    def passthrough(name: str, model: str, mode: str) -> dict[str, Any]:
        params = {"model": f"openai/{model}", "api_base": upstream.base_url, "api_key": "sk-up-0123456789"}
        return {"model_name": name, "litellm_params": params, "model_info": {"mode": mode}}

    config = {
        "model_list": [
            passthrough("image", "gpt-image-1", "image_generation"),
            passthrough("whisper", "whisper-1", "audio_transcription"),
            passthrough("tts", "tts-1", "audio_speech"),
            passthrough("moderation", "omni-moderation-latest", "moderation"),
            passthrough("rerank", "rerank-english-v3.0", "rerank"),
            {
                "model_name": "cohere-rerank",
                "litellm_params": {
                    "model": "cohere/rerank-english-v3.0",
                    "api_base": upstream.root,
                    "api_key": "co-test-0123456789",
                },
                "model_info": {"mode": "rerank"},
            },
            {"model_name": "mock-image", "litellm_params": {"model": "mock/image"}},
            {"model_name": "mock-whisper", "litellm_params": {"model": "mock/whisper"}},
            {"model_name": "mock-moderation", "litellm_params": {"model": "mock/moderation"}},
            {"model_name": "mock-rerank", "litellm_params": {"model": "mock/rerank"}},
        ],
        "general_settings": {"master_key": MASTER_KEY},
        "llmgate": {
            "database_url": f"sqlite:///{tmp / 'store.db'}",
            "spill_dir": str(tmp / "spill"),
            "max_request_body_bytes": LIMIT,
        },
    }
    running = RunningGateway(config, tmp).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(gateway: RunningGateway) -> openai.OpenAI:
    return gateway.client(MASTER_KEY)  # type: ignore[no-any-return]


def _record(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    gateway.flush()
    rows = [r for r in list_records(gateway.state.engine, limit=500) if r["id"] == request_id]
    assert len(rows) == 1, f"request {request_id} recorded {len(rows)} times"
    return rows[0]


def _units(row: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(row["metadata_json"])["llmgate_usage"]  # type: ignore[no-any-return]


def test_images_generate_and_edit_pass_through(
    client: openai.OpenAI, upstream: MediaUpstream, gateway: RunningGateway
) -> None:
    raw = client.images.with_raw_response.generate(model="image", prompt="a red fox", n=2, size="1024x1024")
    generated = raw.parse()
    assert [base64.b64decode(i.b64_json or "") for i in generated.data or []] == [PNG, PNG]
    arrived = upstream.arrivals[-1]
    assert arrived.path == "/v1/images/generations"
    assert arrived.json() == {"model": "gpt-image-1", "prompt": "a red fox", "n": 2, "size": "1024x1024"}
    row = _record(gateway, raw.headers["x-llmgate-request-id"])
    assert (row["endpoint"], row["model"], row["status_code"]) == ("images/generations", "image", 200)
    assert _units(row) == {"images": 2, "size": "1024x1024"}
    # gpt-image-1 reports tokens: 50 in at $5/M, 4160 image tokens out at $40/M (litellm's map)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (50, 4160)
    assert Decimal(row["cost_usd"]) == Decimal("0.16665")

    raw = client.images.with_raw_response.edit(
        model="image", image=("fox.png", PNG, "image/png"), prompt="add a hat", n=1
    )
    assert base64.b64decode(raw.parse().data[0].b64_json or "") == PNG  # type: ignore[index]
    arrived = upstream.arrivals[-1]
    assert arrived.path == "/v1/images/edits"
    assert arrived.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert arrived.fields == {"model": "gpt-image-1", "prompt": "add a hat", "n": "1"}
    assert arrived.files == {"image": ("fox.png", "image/png", PNG)}
    row = _record(gateway, raw.headers["x-llmgate-request-id"])
    assert row["endpoint"] == "images/edits" and _units(row)["images"] == 1
    request = orjson.loads(row["request_json"])
    assert request["image"] == {"filename": "fox.png", "size": len(PNG), "content_type": "image/png"}


def test_a_multipart_body_is_forwarded_as_the_client_sent_it(
    upstream: MediaUpstream, gateway: RunningGateway
) -> None:
    """Byte for byte, boundary included; only the model's value differs (the alias's upstream name)."""
    files = {"file": ("tone.wav", WAV, "audio/wav")}
    request = httpx.Request(
        "POST",
        gateway.url + "/audio/transcriptions",
        data={"model": "whisper", "language": "en"},
        files=files,
    )
    sent = request.read()
    reply = httpx.post(
        gateway.url + "/audio/transcriptions",  # without /v1, as LiteLLM serves it too
        content=sent,
        headers={"content-type": request.headers["content-type"], "authorization": f"Bearer {MASTER_KEY}"},
    )
    assert reply.status_code == 200, reply.text
    arrived = upstream.arrivals[-1]
    assert arrived.headers["Content-Type"] == request.headers["content-type"]
    assert arrived.raw == sent.replace(b"\r\n\r\nwhisper\r\n", b"\r\n\r\nwhisper-1\r\n")
    assert arrived.files["file"] == ("tone.wav", "audio/wav", WAV)


def test_audio_speech_transcription_translation(
    client: openai.OpenAI, upstream: MediaUpstream, gateway: RunningGateway, tmp_path: Path
) -> None:
    speech = client.audio.speech.with_raw_response.create(model="tts", voice="alloy", input="Hello there")
    assert speech.headers["content-type"] == "audio/mpeg"
    assert speech.parse().content == SPEECH
    assert upstream.arrivals[-1].json()["model"] == "tts-1"
    row = _record(gateway, speech.headers["x-llmgate-request-id"])
    assert row["endpoint"] == "audio/speech"
    assert _units(row) == {"characters": 11, "answer": {"size": len(SPEECH), "content_type": "audio/mpeg"}}
    assert Decimal(row["cost_usd"]) == 11 * Decimal("0.000015")  # tts-1: $15 per million characters
    assert row["response_text"] is None

    path = tmp_path / "tone.wav"
    path.write_bytes(WAV)
    with path.open("rb") as audio:
        raw = client.audio.transcriptions.with_raw_response.create(model="whisper", file=audio)
    assert raw.parse().text == TRANSCRIPT
    arrived = upstream.arrivals[-1]
    assert arrived.fields["model"] == "whisper-1" and arrived.files["file"][2] == WAV
    row = _record(gateway, raw.headers["x-llmgate-request-id"])
    assert (row["endpoint"], row["response_text"]) == ("audio/transcriptions", TRANSCRIPT)
    assert _units(row) == {"seconds": 2.0}  # the upstream's usage.seconds wins over the header's 1 s
    assert Decimal(row["cost_usd"]) == Decimal("0.0002")  # whisper-1: $0.0001 a second
    assert orjson.loads(row["request_json"])["file"] == {
        "filename": "tone.wav",
        "size": len(WAV),
        "content_type": arrived.files["file"][1],  # as the SDK labelled it
        "seconds": 1.0,
    }

    with warnings.catch_warnings():  # openai 3 marks translations (whisper-1 only) deprecated
        warnings.filterwarnings("ignore", "deprecated", DeprecationWarning)
        raw = client.audio.translations.with_raw_response.create(model="whisper", file=("tone.wav", WAV))
    assert raw.parse().text == TRANSCRIPT
    assert upstream.arrivals[-1].path == "/v1/audio/translations"
    row = _record(gateway, raw.headers["x-llmgate-request-id"])
    assert row["endpoint"] == "audio/translations" and _units(row) == {"seconds": 2.0}

    # a transcript as text (no duration in the answer): the seconds come from the WAV's header
    files = {"file": ("tone.wav", WAV, "audio/wav")}
    reply = httpx.post(
        gateway.url + "/v1/audio/transcriptions",
        data={"model": "whisper", "response_format": "text"},
        files=files,
        headers={"authorization": f"Bearer {MASTER_KEY}"},
    )
    assert (reply.status_code, reply.text, reply.headers["content-type"]) == (
        200,
        TRANSCRIPT,
        "text/plain; charset=utf-8",
    )
    row = _record(gateway, reply.headers["x-llmgate-request-id"])
    assert _units(row) == {"seconds": 1.0} and row["response_text"] == TRANSCRIPT
    assert Decimal(row["cost_usd"]) == Decimal("0.0001")


def test_moderations_and_rerank(
    client: openai.OpenAI, upstream: MediaUpstream, gateway: RunningGateway
) -> None:
    raw = client.moderations.with_raw_response.create(model="moderation", input=["hello", "I will kill it"])
    assert [r.flagged for r in raw.parse().results] == [False, True]
    row = _record(gateway, raw.headers["x-llmgate-request-id"])
    assert row["endpoint"] == "moderations" and _units(row) == {"inputs": 2, "flagged": 1}
    assert Decimal(row["cost_usd"]) == 0 and not row["cost_unknown"]

    documents = ["apples are red", "the sky is blue", "bananas are yellow"]
    for model, path in (("rerank", "/v1/rerank"), ("cohere-rerank", "/v2/rerank")):  # litellm: Cohere's v2
        reply = httpx.post(
            gateway.url + "/v1/rerank",
            json={"model": model, "query": "what colour is the sky", "documents": documents, "top_n": 2},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        results = reply.json()["results"]
        assert [r["index"] for r in results] == [2, 1] and results[0]["relevance_score"] == pytest.approx(0.9)
        arrived = upstream.arrivals[-1]
        assert arrived.path == path
        assert (
            arrived.json()["query"] == "what colour is the sky" and arrived.json()["documents"] == documents
        )
        row = _record(gateway, reply.headers["x-llmgate-request-id"])
        assert (row["endpoint"], row["model"]) == ("rerank", model)
        assert _units(row) == {"search_units": 1, "documents": 3}
        assert Decimal(row["cost_usd"]) == Decimal("0.002")  # rerank-english-v3.0: $2 per 1000 searches
    assert upstream.arrivals[-1].headers["Authorization"] == "Bearer co-test-0123456789"


def test_mock_provider_answers_every_media_endpoint(client: openai.OpenAI, gateway: RunningGateway) -> None:
    image = client.images.generate(model="mock-image", prompt="a cat")
    assert image.data and base64.b64decode(image.data[0].b64_json or "").startswith(b"\x89PNG")
    raw = client.audio.transcriptions.with_raw_response.create(model="mock-whisper", file=("tone.wav", WAV))
    assert raw.parse().text == "Mock transcript of tone.wav (1 s)."
    row = _record(gateway, raw.headers["x-llmgate-request-id"])
    assert _units(row) == {"seconds": 1.0} and Decimal(row["cost_usd"]) == 0
    moderation = client.moderations.create(model="mock-moderation", input="they attack at dawn")
    assert moderation.results[0].flagged and moderation.results[0].categories.violence
    reply = httpx.post(
        gateway.url + "/rerank",
        json={"model": "mock-rerank", "query": "blue sky", "documents": ["green grass", "the blue sky"]},
        headers={"authorization": f"Bearer {MASTER_KEY}"},
    )
    assert [r["index"] for r in reply.json()["results"]] == [1, 0]


def test_wrong_endpoint_for_a_media_model_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="whisper", messages=[{"role": "user", "content": "hi"}])
    assert "/v1/audio/transcriptions" in str(refused.value.body)


def test_an_upload_over_the_limit_is_refused_unread(upstream: MediaUpstream, gateway: RunningGateway) -> None:
    """413 in OpenAI's shape as soon as the headers say the body is too large: the rest is never sent."""
    before = len(upstream.arrivals)
    sock = connect(gateway.port)
    try:
        head = (
            "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {MASTER_KEY}\r\n"
            "Content-Type: multipart/form-data; boundary=b0\r\n"
            f"Content-Length: {LIMIT * 50}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"--b0\r\n")  # a few bytes of a body 50 times the limit
        response = read_response(sock)
    finally:
        sock.close()
    assert response is not None and response.status == 413
    error = orjson.loads(response.body)["error"]
    assert error["type"] == "invalid_request_error" and str(LIMIT) in error["message"]
    assert len(upstream.arrivals) == before


def test_uploaded_and_answered_bytes_are_not_stored(gateway: RunningGateway, client: openai.OpenAI) -> None:
    client.audio.transcriptions.create(model="whisper", file=("tone.wav", WAV))
    client.audio.speech.create(model="tts", voice="alloy", input="bytes")
    gateway.flush()
    database = Path(str(gateway.state.engine.url.database))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert WAV[1000:1064] not in stored and SPEECH[:40] not in stored
    assert base64.b64encode(WAV[1000:1064])[4:60] not in stored
