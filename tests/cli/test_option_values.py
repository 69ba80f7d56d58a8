"""cli/option_values.py: every option of every command takes and refuses values as typer's own
(pydantic) coercion does, value for value: the same result, or the same one-line error."""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest
import typer
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param

from llmgate.cli.main import COMMANDS, app
from llmgate.cli.option_values import _Plain


def _options() -> list[tuple[str, Any]]:
    root = typer.main.get_group(app)
    ctx = root.make_context("llmgate", ["version"], resilient_parsing=True)
    found: list[tuple[str, Any]] = []

    def walk(path: str, command: Any) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            walk(f"{path} {name}", sub)
        for param in [*command.params, command.get_help_option(ctx)]:
            if param is not None and isinstance(param._runtime_param, _Plain):
                found.append((f"{path} {param.name}", param))

    for name in COMMANDS:
        walk(name, root.get_command(ctx, name))
    return found


# fmt: off
_SAMPLES: list[Any] = [
    None, "", " ", "x", "0", "1", "-1", "7", "007", "+3", "1_000", " 12 ", "1e3", "0.5", "-0.25", "2.",
    ".5", "nan", "inf", "100000", "100001", "1000000", "true", "False", "table", "TABLE", "csv", "json",
    " json", 3, 0, 2.5, True, False, ("a", "b"), ["x"], (), ("1", 2),
]
# fmt: on


def _outcome(runtime: Any, param: Any, value: Any, ctx: Any) -> tuple[str, Any]:
    try:
        return "value", runtime.coerce(value, param=param, ctx=ctx)
    except BadParameter as exc:
        return "error", exc.format_message()


def test_plain_options_coerce_as_typer_does() -> None:
    options = _options()
    kinds = {type(param._runtime_param.annotation) for _, param in options}
    assert {type(str), type(Enum)} <= kinds  # plain types and choices are both covered
    assert len(options) > 40
    ctx = typer.main.get_group(app).make_context("llmgate", ["version"], resilient_parsing=True)
    for label, param in options:
        typers = build_runtime_param(param.type_descriptor)
        for value in _SAMPLES:
            ours = _outcome(param._runtime_param, param, value, ctx)
            theirs = _outcome(typers, param, value, ctx)
            assert ours == theirs, (label, value)
            assert type(ours[1]) is type(theirs[1]), (label, value)


@pytest.mark.parametrize("value", ["5", 5])
def test_a_value_read_at_a_glance_builds_no_adapter(value: Any) -> None:
    """The point of the module: a plain value never reaches pydantic."""
    (_, param), *_ = [(label, p) for label, p in _options() if label == "logs limit"]
    ctx = typer.main.get_group(app).make_context("llmgate", ["version"], resilient_parsing=True)
    assert param._runtime_param.coerce(value, param=param, ctx=ctx) == 5
    assert isinstance(param._runtime_param, _Plain)
