"""Option values coerced without pydantic: part of what keeps read-only commands fast.

typer 0.29 coerces every option value through a pydantic ``TypeAdapter`` that it builds on first
use: importing ``typer._adapters`` and building one adapter per option of the command run costs
more than 100 ms of a command's start-up. The options llmgate declares are plain (``str``,
``int`` and ``float`` with bounds, a list of ``str``, a ``StrEnum`` choice), so ``install`` gives
each such option a coercion of its own that takes the values it can read at a glance and hands
everything else (a value that does not parse, is out of range or not a choice, and every other
kind of option) to typer's own coercion, so a bad value fails exactly as typer words it.

This reaches into typer's parameter objects (``type_descriptor``, ``_runtime_param``, pinned in
constraints.txt); if a typer release drops them, ``install`` leaves the option to typer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_MISS = object()


def _in_range(number: float, info: Any) -> bool:
    return (info.min is None or number >= info.min) and (info.max is None or number <= info.max)


def _number(kind: type, value: Any, info: Any) -> Any:
    pattern = _INT if kind is int else _FLOAT
    exact = type(value) is kind or (kind is float and type(value) is int)
    if not exact and not (type(value) is str and pattern.fullmatch(value)):
        return _MISS
    number = kind(value)
    return number if _in_range(number, info) else _MISS


def _choice(enum: type[Enum], value: Any, ctx: Any) -> Any:
    if isinstance(value, enum):
        return value
    if type(value) is not str or getattr(ctx, "token_normalize_func", None) is not None:
        return _MISS
    return next((member for member in enum if member.value == value), _MISS)


def _one(annotation: Any, value: Any, info: Any, ctx: Any) -> Any:
    if annotation is str:
        return value if type(value) is str else _MISS
    if annotation is bool:
        return value if type(value) is bool else _MISS
    if annotation in (int, float):
        return _number(annotation, value, info)
    return _choice(annotation, value, ctx)


@dataclass(frozen=True, slots=True)
class _Plain:
    """The ``RuntimeParam`` of a plain option: ``coerce`` as typer's, without a ``TypeAdapter``."""

    annotation: Any  # str, bool, int, float or an Enum; for a list option, the item's type
    many: bool

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        info = param.type_descriptor.parameter_info
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        if self.many:
            if isinstance(value, (list, tuple)):
                items = [_one(self.annotation, item, info, ctx) for item in value]
                if _MISS not in items:
                    return items
        else:
            coerced = _one(self.annotation, value, info, ctx)
            if coerced is not _MISS:
                return coerced
        from typer._coercion import build_runtime_param  # imports pydantic: only for what we cannot read

        return build_runtime_param(param.type_descriptor).coerce(value, param=param, ctx=ctx)


def _plain(param: Any) -> _Plain | None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or not hasattr(param, "_runtime_param"):
        return None
    info = descriptor.parameter_info
    if info.parser is not None or info.clamp or descriptor.is_file or descriptor.is_path:
        return None
    annotation, many = descriptor.annotation, descriptor.is_list
    if many:
        annotation = getattr(annotation, "__args__", (None,))[0]
        if not param.multiple:
            return None
    elif param.multiple or param.nargs != 1:
        return None
    plain = annotation in (str, bool, int, float) or (
        isinstance(annotation, type) and issubclass(annotation, Enum)
    )
    return _Plain(annotation, many) if plain else None


def install(command: Any, ctx: Any) -> None:
    """Give every plain option of ``command`` and of its subcommands, ``--help`` included (made
    here, as click would make it while parsing, from ``ctx``'s help option names), the coercion
    above."""
    for sub in getattr(command, "commands", {}).values():
        install(sub, ctx)
    params = list(command.params)
    if "help_option_names" not in (command.context_settings or {}):
        params.append(command.get_help_option(ctx))
    for param in params:
        plain = _plain(param) if param is not None else None
        if plain is not None and param._runtime_param is None:
            param._runtime_param = plain
