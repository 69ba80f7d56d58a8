"""A pydantic validation error in plain words, for the one-line messages of config and suite files.

pydantic says "Input should be a valid integer, unable to parse string as an integer" and
"Value error, ..."; the author of a YAML file wants the key, what was expected and what was
there: ``rpm: expected a whole number, got 'lots'``. The config loader and the eval suite
reader both describe their errors with ``plain_problem`` and ``key_path``, so the two read alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_core import ErrorDetails

__all__ = ["key_path", "plain_problem"]

#: pydantic's type errors, as what the key expected
_EXPECTED = {
    "model_type": "a mapping of keys",
    "dict_type": "a mapping of keys",
    "list_type": "a list",
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "decimal_parsing": "a number",
    "decimal_type": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def key_path(loc: Sequence[int | str]) -> str:
    """``("model_list", 0, "litellm_params")`` -> ``model_list[0].litellm_params``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def plain_problem(error: ErrorDetails) -> str:
    """What is wrong at one error's key, without pydantic's "Input should be" or "Value error,"."""
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind in _EXPECTED:
        got = "nothing (the key is empty)" if value is None else repr(value)
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind in ("literal_error", "enum"):
        return f"{value!r} is not one of: {error.get('ctx', {}).get('expected', '')}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message.replace("Input should be", "must be", 1)
