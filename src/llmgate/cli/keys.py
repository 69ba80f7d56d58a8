"""``llmgate keys ...``, ``llmgate teams ...`` and ``llmgate audit``: virtual keys, teams, the audit log."""

from __future__ import annotations

import typer

keys_app = typer.Typer(no_args_is_help=True)
teams_app = typer.Typer(no_args_is_help=True)
