"""JSON assertions: ``json_schema`` (the answer is JSON that validates against ``value``) and
``is_json`` (the answer is JSON; with a ``value``, also valid against it, as promptfoo's ``is-json``).

The answer may be wrapped in one Markdown code fence (```` ```json ... ``` ````), as chat models
often do; anything else around the JSON fails. Schemas are checked when the suite is loaded, with
the draft the schema's ``$schema`` names (2020-12 by default), using the ``jsonschema`` package.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from llmgate.evals.assertions.base import AssertionType, Check, SpecProblem, Verdict

if TYPE_CHECKING:
    from llmgate.evals.assertions.spec import AssertionSpec

_FENCE = re.compile(r"\A```[A-Za-z0-9_-]*[ \t]*\n(?P<body>.*)\n```\Z", re.DOTALL)


def parse_json_answer(output: str) -> Any:
    """The answer as JSON (one surrounding code fence allowed); ``ValueError`` if it is not."""
    text = output.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group("body").strip()
    return json.loads(text)


def _validator(schema: Any) -> Any:
    # jsonschema: only when a json_schema assertion runs, off loading a suite
    from jsonschema import validators

    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    return cls(schema)


def _validate_schema(spec: AssertionSpec, *, required: bool) -> None:
    if spec.value is None:
        if required:
            raise SpecProblem(("value",), f"{spec.type} needs a value: a JSON schema")
        return
    if not isinstance(spec.value, dict | bool):
        raise SpecProblem(("value",), f"{spec.type}: the value must be a JSON schema (a mapping)")
    # jsonschema: only when a json_schema assertion runs, off loading a suite
    from jsonschema.exceptions import SchemaError

    try:
        type(_validator(spec.value)).check_schema(spec.value)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        at = f" at {where}" if where else ""
        raise SpecProblem(("value",), f"invalid JSON schema{at}: {exc.message}") from None


async def _check(spec: AssertionSpec, check: Check) -> Verdict:
    try:
        document = parse_json_answer(check.output)
    except ValueError as exc:
        return Verdict(0.0, False, f"the answer is not JSON ({exc})")
    if spec.value is None:
        return Verdict(1.0, True)
    errors = sorted(_validator(spec.value).iter_errors(document), key=lambda e: list(e.absolute_path))
    if not errors:
        return Verdict(1.0, True)
    first = errors[0]
    where = "/".join(str(p) for p in first.absolute_path) or "(root)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return Verdict(0.0, False, f"{where}: {first.message}{more}")


TYPES = (
    AssertionType(
        "json_schema",
        _check,
        lambda spec: _validate_schema(spec, required=True),
        "the answer is JSON valid against the schema in value",
    ),
    AssertionType(
        "is_json",
        _check,
        lambda spec: _validate_schema(spec, required=False),
        "the answer is JSON (valid against value, if given)",
    ),
)
