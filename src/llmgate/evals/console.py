"""Terminal reports of runs with rich: the per-case table and summary, the comparison with a
baseline (flipped cases with old and new answers side by side), and the list of stored runs."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmgate.evals.reported import Reported, failure_message
from llmgate.evals.results import CaseSummary, RunSummary
from llmgate.store.money import usd

if TYPE_CHECKING:
    from llmgate.evals.history import RunComparison

_STYLE = {"passed": "green", "failed": "red", "error": "yellow", "running": "cyan"}


def _short(text: str | None, limit: int) -> str:
    if text is None:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _status(status: str, flaky: bool = False) -> str:
    return f"[{_STYLE.get(status, 'white')}]{status}[/]" + (" [magenta](flaky)[/]" if flaky else "")


def _marks(case: CaseSummary) -> str:
    marks = []
    for o in case.first.assertions:
        mark = "[yellow]![/]" if o.error else ("[green]✓[/]" if o.passed else "[red]✗[/]")
        marks.append(f"{mark}{escape(o.type)}")
    return " ".join(marks)


def summary_line(summary: RunSummary) -> str:
    """One line: the run's outcome and figures."""
    counts = summary.counts()
    cost = usd(summary.cost_usd) if summary.cost_usd is not None else "cost unknown"
    if summary.cost_usd is not None and not summary.cost_complete:
        cost += " (some calls unpriced)"
    duration = f"{summary.duration_s:.1f}s" if summary.duration_s is not None else "-"
    return (
        f"{_status(summary.status)} [bold]{escape(summary.suite)}[/] on [bold]{escape(summary.model)}[/]: "
        f"{counts['passed']}/{counts['cases']} passed, {counts['failed']} failed, {counts['errors']} errors"
        f" · pass rate {summary.pass_rate:.1%} · mean score {summary.mean_score:.3f} · {cost} · {duration}"
        f" · run {summary.run_id[:12]}"
    )


def print_run(console: Console, summary: RunSummary, *, cases: bool = True) -> None:
    """The per-case table (unless ``cases`` is false) and the summary line."""
    if cases:
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("case", "status", "score", "assertions", "ms", "answer", "why"):
            table.add_column(column, justify="right" if column in ("score", "ms") else "left")
        for case in summary.cases():
            why = "" if case.status == "passed" else _short(failure_message(case), 80)
            table.add_row(
                escape(case.case_id),
                _status(case.status, case.flaky),
                f"{case.score:.3f}",
                _marks(case),
                f"{case.latency_ms / max(1, len(case.results)):.0f}",
                escape(_short(case.first.output, 50)),
                escape(why),
            )
        console.print(table)
    console.print(summary_line(summary))


def print_comparison(console: Console, comparison: RunComparison, *, label: str = "baseline") -> None:
    """The verdict, the flipped cases side by side, and the flaky ones."""
    c = comparison.comparison
    verdict = "[bold red]REGRESSION[/]" if c.regression else "[green]no regression[/]"
    base = comparison.baseline
    of = f" of {escape(base.model)}" if base.model != comparison.current.model else ""
    console.print(
        f"{verdict} vs {label} run {base.run_id[:12]}{of}: pass rate "
        f"{c.baseline_pass_rate:.0%} → {c.current_pass_rate:.0%} on {c.compared} paired cases, "
        f"{c.method} p = {c.p_value:.4f}, effect {c.effect:+.3f}"
        + (" [yellow](the suite changed since then)[/]" if comparison.suite_changed else "")
    )
    if comparison.flips:
        table = Table(header_style="bold", show_lines=True)
        for column in ("case", "flip", f"{label} answer", "new answer", "why"):
            table.add_column(column, overflow="fold")
        for flip in comparison.flips:
            arrow = "[red]pass → fail[/]" if flip.direction == "to_fail" else "[green]fail → pass[/]"
            table.add_row(
                escape(flip.case_id),
                arrow,
                escape(_short(flip.old_output, 200)),
                escape(_short(flip.new_output, 200)),
                escape(_short(flip.reason, 120)),
            )
        console.print(table)
    if c.flaky:
        console.print(f"[magenta]flaky[/] (repetitions disagree): {escape(', '.join(c.flaky))}")


def print_runs(
    console: Console, runs: Sequence[Mapping[str, Any]], baselines: set[str] | None = None
) -> None:
    """Stored runs as a table, baselines starred."""
    if not runs:
        console.print("no eval runs stored")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    numbers = ("passed", "failed", "errors", "cost")
    for column in ("run", "started (UTC)", "suite", "model", "status", *numbers):
        table.add_column(column, justify="right" if column in numbers else "left")
    for run in runs:
        star = " *" if baselines and run["id"] in baselines else ""
        cost = run.get("cost_usd")
        table.add_row(
            run["id"][:12] + star,
            run["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
            escape(run["suite"]),
            escape(run["model"]),
            _status(run["status"]),
            str(run["passed"]),
            str(run["failed"]),
            str(run["errors"]),
            usd(cost) if cost is not None else "-",
        )
    console.print(table)
    if baselines and any(run["id"] in baselines for run in runs):
        console.print("* a baseline (llmgate eval baseline list: of which suite and model)")


def print_report(console: Console, runs: list[Reported], *, cases: bool = True) -> None:
    """Each run (its table unless ``cases`` is false, and its summary) and its baseline comparison."""
    for summary, comparison in runs:
        print_run(console, summary, cases=cases)
        if comparison is not None:
            print_comparison(console, comparison)


def table_text(runs: list[Reported], *, width: int = 200) -> str:
    """The terminal report as plain text (no colour), for a file."""
    buffer = io.StringIO()
    print_report(Console(file=buffer, width=width, color_system=None), runs)
    return buffer.getvalue()
