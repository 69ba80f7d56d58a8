"""Commands loaded when they are used: what keeps ``llmgate --help`` and ``--version`` fast.

``LazyGroup`` is the top-level click group. It knows each command by a ``Lazy`` entry (the module,
the attribute, the one-line help) and imports the module only when that command runs or its help
is shown; ``llmgate --help`` lists the entries' help without importing any of them. An attribute
may be a ``typer.Typer`` (a noun group such as ``keys``) or a function (a single command such as
``serve``). Help is plain text (no rich panels: rich's help formatter alone costs more than the
whole of ``--help`` may) and, when stdout is not a terminal, not wrapped at 80 columns.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

from llmgate.cli import option_values

#: help is never wrapped narrower than the terminal; off a terminal (a pipe, a file) not at all
UNWRAPPED = 10_000


@dataclass(frozen=True, slots=True)
class Lazy:
    """A command known by name: ``module.attr`` is imported only when the command is used."""

    module: str
    attr: str
    help: str


def context_widths() -> dict[str, Any]:
    """Click context settings for help: the terminal's width on a terminal (or ``$COLUMNS``),
    else unwrapped, so help piped to ``grep`` or ``less`` is never cut at 80 columns."""
    widths: dict[str, Any] = {"max_content_width": UNWRAPPED}
    if not os.environ.get("COLUMNS") and not sys.stdout.isatty():
        widths["terminal_width"] = UNWRAPPED
    return widths


def _load(name: str, spec: Lazy, ctx: Any) -> Any:
    target = getattr(importlib.import_module(spec.module), spec.attr)
    command: Any
    if isinstance(target, typer.Typer):
        target.rich_markup_mode = None
        command = typer.main.get_group(target)
        command.name = name
        command.help = command.help or spec.help
    else:
        single = typer.Typer(add_completion=False, rich_markup_mode=None)
        single.command(name, help=spec.help)(target)
        command = typer.main.get_command(single)
    option_values.install(command, ctx)
    return command


class LazyGroup(TyperGroup):
    """A group whose commands (``lazy``, set by a subclass) are imported on first use."""

    lazy: ClassVar[dict[str, Lazy]] = {}

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        option_values.install(self, ctx)  # this group's options and its commands loaded so far
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.lazy, *(name for name in super().list_commands(ctx) if name not in self.lazy)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy:
            command = _load(cmd_name, self.lazy[cmd_name], ctx)
            self.add_command(command, cmd_name)
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except typer.TyperException as exc:  # "No such command": suggest from every command, loaded or not
            matches = difflib.get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and "No such command" in exc.message:
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"
            raise

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list from the ``Lazy`` entries' help: nothing is imported to show it."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy and name not in self.commands:
                rows.append((name, self.lazy[name].help))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(UNWRAPPED)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
