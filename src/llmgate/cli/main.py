"""The ``llmgate`` command: noun groups with verbs, each a thin client of library functions.

Errors end as one line on stderr and a non-zero exit code (2 for usage and configuration,
1 for everything else); heavy imports happen inside the commands that need them.
"""

from __future__ import annotations

import sys

import typer

from llmgate.cli import db, evals, keys, logs, monitors, report, scheduler, serve
from llmgate.cli.common import fail
from llmgate.errors import ConfigError, LlmgateError

app = typer.Typer(
    name="llmgate",
    help="An OpenAI-compatible LLM gateway that records every call.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve", help="Run the gateway.")(serve.serve)
app.command("logs", help="Show recorded requests.")(logs.logs)
app.command("scheduler", help="Run the config's eval schedules as a process of its own.")(scheduler.scheduler)
app.add_typer(db.app, name="db", help="The store: migrations and status.")
app.add_typer(keys.keys_app, name="keys", help="Virtual keys: create, list, info, update, revoke, rotate.")
app.add_typer(keys.teams_app, name="teams", help="Teams with their own budgets and limits.")
app.add_typer(report.app, name="report", help="Spend and budget reports for finance.")
app.add_typer(evals.app, name="eval", help="Eval suites: run, list, show, compare, baseline.")
app.command("audit", help="The admin audit log.")(keys.audit)
app.command("monitor", help="Run the live drift and retrieval-quality monitor.")(monitors.monitor)
app.add_typer(monitors.drift_app, name="drift", help="Embedding and output drift: status, report, baseline.")
app.add_typer(monitors.quality_app, name="quality", help="Retrieval quality of RAG traffic.")


@app.command("version", help="Print the version.")
def version() -> None:
    from llmgate import __version__

    typer.echo(__version__)


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        fail(exc.message, code=2)
    except LlmgateError as exc:
        fail(exc.message, code=1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
