"""The ``llmgate`` command: noun groups with verbs, each a thin client of library functions.

Errors end as one line on stderr and a non-zero exit code (2 for usage and configuration,
1 for everything else). Start-up stays short: this module imports no command module (``COMMANDS``
names each, with its one-line help, and ``cli/lazy.py`` imports it when it is used), ``--version``
reads ``llmgate/version.py`` alone, and heavy imports happen inside the commands that need them.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from llmgate.cli.common import fail, usage_text
from llmgate.cli.lazy import Lazy, LazyGroup, context_widths
from llmgate.errors import ConfigError, LlmgateError
from llmgate.version import __version__

#: every command but ``version``, in the order ``llmgate --help`` lists them
COMMANDS = {
    "serve": Lazy("llmgate.cli.serve", "serve", "Run the gateway."),
    "logs": Lazy("llmgate.cli.logs", "logs", "Show recorded requests."),
    "sessions": Lazy("llmgate.cli.sessions", "sessions_app", "Agent and conversation sessions: list."),
    "dataset": Lazy(
        "llmgate.cli.datasets",
        "dataset_app",
        "Datasets from recorded traffic: create, export, list, show, add, remove, delete.",
    ),
    "scheduler": Lazy(
        "llmgate.cli.scheduler", "scheduler", "Run the config's eval schedules as a process of its own."
    ),
    "db": Lazy("llmgate.cli.db", "app", "The store: migrations and status."),
    "keys": Lazy("llmgate.cli.keys", "keys_app", "Virtual keys: create, list, info, update, revoke, rotate."),
    "teams": Lazy("llmgate.cli.teams", "teams_app", "Teams with their own budgets and limits."),
    "report": Lazy("llmgate.cli.report", "app", "Spend, budget and operations reports."),
    "eval": Lazy("llmgate.cli.evals", "app", "Eval suites: run, list, show, compare, baseline."),
    "audit": Lazy("llmgate.cli.audit", "audit", "The admin audit log."),
    "monitor": Lazy("llmgate.cli.monitors", "monitor", "Run the live drift and retrieval-quality monitor."),
    "drift": Lazy(
        "llmgate.cli.monitors", "drift_app", "Embedding and output drift: status, report, baseline."
    ),
    "quality": Lazy("llmgate.cli.monitors", "quality_app", "Retrieval quality of RAG traffic."),
    "cache": Lazy("llmgate.cli.cache", "app", "The response cache: stats and clear."),
    "canary": Lazy(
        "llmgate.cli.canary",
        "canary_app",
        "Canary releases: start, status, promote, pause, resume, rollback, history, export.",
    ),
}


class _Commands(LazyGroup):
    lazy = COMMANDS


app = typer.Typer(
    name="llmgate",
    help="An OpenAI-compatible LLM gateway that records every call.",
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    suggest_commands=False,  # _Commands suggests from every command, loaded or not
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"llmgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version),
    ] = False,
) -> None:
    """An OpenAI-compatible LLM gateway that records every call."""


@app.command("version", help="Print the version.")
def version() -> None:

    typer.echo(__version__)


def _from_the_store(exc: BaseException) -> bool:
    """An error of the store's driver or of SQLAlchemy that a command let through (its module
    tells, so this file imports neither)."""
    return any(
        kind.__module__.split(".")[0] in ("sqlalchemy", "psycopg", "sqlite3") for kind in type(exc).__mro__
    )


def main() -> None:
    try:
        code = app(standalone_mode=False, **context_widths())
    except typer.TyperException as exc:  # usage errors from the command line: one line, exit 2
        if "\n" in exc.format_message():  # a group without its command: the help itself, as click shows it
            typer.echo(exc.format_message(), err=True)
            sys.exit(exc.exit_code)
        fail(usage_text(exc), code=exc.exit_code)
    except typer.Abort:
        fail("aborted", code=1)
    except ConfigError as exc:
        fail(exc.message, code=2)
    except LlmgateError as exc:
        fail(exc.message, code=1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if not _from_the_store(exc):
            raise
        # SQLAlchemy (the store): imported already, by the command that raised this
        from llmgate.store.db import describe_error

        fail(f"the store failed: {describe_error(exc)}", code=1)  # a dead store: one line, not a trace
    if isinstance(code, int) and code:  # typer.Exit(code) from a command
        sys.exit(code)


if __name__ == "__main__":
    main()
