"""How deeply a request body may nest (``protocol/requests.read_body``): the limit holds exactly at
its edge, whether or not the body has few enough brackets to skip the walk over it."""

from __future__ import annotations

import orjson
import pytest

from llmgate.errors import InvalidRequest
from llmgate.protocol.requests import read_body


def body(value: object) -> bytes:
    return orjson.dumps({"model": "m", "a": value})


def test_a_body_as_deep_as_the_limit_is_read() -> None:
    assert read_body(body([[1]]), max_depth=3)[0]["a"] == [[1]]  # the body, then two arrays
    assert read_body(body([[1], [2], {"b": 3}]), max_depth=3)[0]["a"][2] == {"b": 3}  # walked


def test_one_level_past_the_limit_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidRequest) as refused:
        read_body(body([[[1]]]), max_depth=3)
    assert refused.value.param == "a[0][0]" and refused.value.code == "nesting_too_deep"


def test_brackets_in_strings_do_not_count_as_nesting() -> None:
    assert read_body(body("[[[[{{{{"), max_depth=2)[0]["a"] == "[[[[{{{{"
