"""``encoding_format`` of ``/v1/embeddings``: the values accepted, and floats as OpenAI's base64."""

from __future__ import annotations

import base64
import struct

import orjson
import pytest

from llmgate.errors import InvalidRequest
from llmgate.protocol import parse_request
from llmgate.protocol.embedding_format import base64_vector, check_encoding_format, to_base64


def test_base64_is_little_endian_float32() -> None:
    encoded = base64_vector([1.0, -0.5, 0.1])
    assert base64.b64decode(encoded) == struct.pack("<3f", 1.0, -0.5, 0.1)
    assert base64_vector([]) == ""


def test_an_answer_of_floats_becomes_base64_and_keeps_the_rest() -> None:
    answer = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.25, -0.5]},
            {"object": "embedding", "index": 1, "embedding": base64_vector([1.0])},  # already base64
        ],
        "model": "m",
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }
    out = orjson.loads(to_base64(orjson.dumps(answer)))
    assert out["data"][0]["embedding"] == base64_vector([0.25, -0.5])
    assert out["data"][1]["embedding"] == base64_vector([1.0])
    assert {k: v for k, v in out.items() if k != "data"} == {k: v for k, v in answer.items() if k != "data"}


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'{"error": {"message": "x"}}',
        b'{"data": [{"embedding": "AACAPw=="}]}',
        b'{"data": [{"embedding": ["a", "b"]}]}',
    ],
)
def test_what_is_not_floats_is_passed_on_as_it_came(raw: bytes) -> None:
    assert to_base64(raw) is raw


@pytest.mark.parametrize("value", ["float", "base64", None])
def test_accepted_values(value: str | None) -> None:
    check_encoding_format(value)
    parse_request("embeddings", orjson.dumps({"model": "m", "input": "x", "encoding_format": value}))


@pytest.mark.parametrize("value", ["int8", "FLOAT", "", 1, ["base64"]])
def test_other_values_are_a_400_naming_the_parameter(value: object) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_request("embeddings", orjson.dumps({"model": "m", "input": "x", "encoding_format": value}))
    assert refused.value.param == "encoding_format"
    assert "Supported values: ['float', 'base64']" in refused.value.message
