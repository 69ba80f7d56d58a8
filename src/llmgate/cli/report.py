"""``llmgate report spend|budgets|pricing-gaps``: what finance asks, from the store."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
