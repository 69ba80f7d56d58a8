"""Multipart bodies: fields and uploads read from the one body, forwarded as its own slices."""

from __future__ import annotations

import io
import pickle
import wave

import httpx
import orjson
import pytest

from llmgate.errors import InvalidRequest
from llmgate.protocol.forms import Upload, form_of, form_pieces, read_form, text_bytes, wav_seconds


def _wav(seconds: float, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(bytes(4 * int(rate * seconds)))
    return out.getvalue()


def _form(fields: dict[str, object], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://test/", data=fields, files=files)
    return request.read(), request.headers["content-type"]


def test_fields_and_files_are_read_without_copying_the_file() -> None:
    audio = _wav(2.5)
    raw, content_type = _form(
        {"model": "whisper", "n": "2", "stream": "false", "timestamp_granularities[]": ["word", "segment"]},
        {"file": ("a.wav", audio, "audio/wav")},
    )
    body, model = read_form(raw, content_type)
    assert model == "whisper"
    assert (body["n"], body["stream"], body["timestamp_granularities[]"]) == (2, False, ["word", "segment"])
    upload = body["file"]
    assert isinstance(upload, Upload)
    assert upload.data.obj is raw and bytes(upload.data) == audio  # a view of the body, not a copy
    description = {"filename": "a.wav", "size": len(audio), "content_type": "audio/wav", "seconds": 2.5}
    assert dict(upload) == description
    # what a record keeps: JSON and pickle carry the description, never the bytes
    assert orjson.loads(orjson.dumps(body))["file"] == description
    assert pickle.loads(pickle.dumps(body))["file"] == description
    assert len(pickle.dumps(body)) < 1000


def test_forwarding_changes_only_what_the_gateway_changed() -> None:
    raw, content_type = _form(
        {"model": "whisper", "language": "en"}, {"file": ("a.wav", b"RIFF-data", "audio/wav")}
    )
    body, _ = read_form(raw, content_type)
    form = form_of(body)
    assert form is not None and form.content_type == content_type
    assert form_pieces(form, body) == [raw]  # unchanged: the same bytes object
    assert form_pieces(form, body)[0] is raw
    changed = {**body, "model": "whisper-1", "temperature": 0}  # the upstream's name, a request default
    forwarded = b"".join(form_pieces(form, changed))
    again, model = read_form(forwarded, content_type)
    assert model == "whisper-1" and again["language"] == "en" and again["temperature"] == "0"
    assert bytes(again["file"].data) == b"RIFF-data"
    assert forwarded.replace(b"whisper-1", b"whisper").startswith(raw[: raw.index(b"--", 10)])


@pytest.mark.parametrize(
    ("raw", "content_type", "words"),
    [
        (b"{}", "application/json", "multipart/form-data"),
        (b"--x\r\n", "multipart/form-data", "no boundary"),
        (b"nothing here", "multipart/form-data; boundary=x", "does not occur"),
        (
            b'--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nm',
            "multipart/form-data; boundary=x",
            "cut short",
        ),
        (
            b'--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nm\r\n--x--',
            "multipart/form-data; boundary=x",
            "no file",
        ),
    ],
)
def test_bad_forms_are_refused_in_words(raw: bytes, content_type: str, words: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        read_form(raw, content_type)
    assert words in refused.value.message


def test_model_is_required() -> None:
    raw, content_type = _form({"language": "en"}, {"file": ("a.wav", b"x", "audio/wav")})
    with pytest.raises(InvalidRequest) as refused:
        read_form(raw, content_type)
    assert refused.value.param == "model"


def test_wav_seconds() -> None:
    audio = _wav(1.25, rate=16000)
    assert wav_seconds(audio[:64], len(audio)) == 1.25
    assert wav_seconds(b"ID3" + bytes(100), 103) is None
    assert wav_seconds(audio[:20], len(audio)) is None  # the header cut before the data chunk


def test_only_the_text_fields_count_as_prompt_bytes() -> None:
    # the worst case a budget reserves: a 2 MB image is priced by its pixels, not as 2M tokens
    raw, content_type = _form(
        {"model": "gpt-image-1", "prompt": "a red fox"},
        {"image": ("fox.png", b"\x89PNG" + b"\0" * 2_000_000, "image/png")},
    )
    body, _ = read_form(raw, content_type)
    assert text_bytes(body) == len("gpt-image-1") + len("a red fox")
    assert text_bytes({"model": "m", "prompt": "p"}) == 0  # not a multipart body
