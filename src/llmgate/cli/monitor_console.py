"""Rich tables for ``llmgate drift status|report`` and ``llmgate quality report`` (JSON in, text out)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from llmgate.config.time_range import duration_text

__all__ = ["print_drift_report", "print_quality_report", "print_status"]

_KIND_TITLE = {
    "prompt": "Prompt embeddings",
    "response": "Answer embeddings (reported, not alerted)",
    "output": "Outputs",
    "rag": "Retrieval quality (window means)",
}


def _console() -> Console:
    return Console(width=140, soft_wrap=False)


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and abs(value) < 10**-digits:
            return f"{value:.1e}"
        return f"{value:.{digits}f}"
    return str(value)


def print_status(data: dict[str, Any]) -> None:
    console = _console()
    groups = data["groups"]
    _print_health(console, data.get("monitor"))
    if not groups:
        console.print(
            "No samples yet. Run `llmgate monitor --config FILE` (or set llmgate.monitors.enabled) "
            "and send traffic through the gateway."
        )
        return
    table = Table(title="Monitors")
    for column in ("model", "route", "status", "samples", "evaluated", "breached", "open alerts"):
        table.add_column(column)
    for g in groups:
        alerts = ", ".join(
            f"{c['condition']} since {c['since'][:19]} (delay {duration_text(c['detection_delay_s'])})"
            for c in g["open_conditions"]
        )
        status = {"alerting": "[red]alerting[/]", "drifted": "[yellow]drifted[/]", "ok": "[green]ok[/]"}.get(
            g["status"], g["status"]
        )
        table.add_row(
            g["model"],
            g["route"],
            status,
            str(g["samples"]),
            (g["evaluated_at"] or "-")[:19],
            ", ".join(g["breached"]) or "-",
            alerts or "-",
        )
    console.print(table)
    for b in data.get("baselines", []):
        console.print(f"baseline pinned: {b['model']} ({b['route']}) {b['since'][:19]} to {b['until'][:19]}")


def _print_health(console: Console, health: dict[str, Any] | None) -> None:
    """The worker's own health, one or two lines above the table (``monitors/health.py``)."""
    if health is None:
        return
    status = health["status"]
    if status == "not started":
        console.print("Monitor worker: [yellow]not started[/] (no pass recorded yet)")
        return
    colour = {"ok": "green", "failing": "red", "stalled": "red"}.get(status, "yellow")
    success = health.get("last_success_at")
    since = health.get("since_success_s")
    console.print(
        f"Monitor worker: [{colour}]{status}[/] · last success "
        + (f"{success[:19]} ({duration_text(since)} ago)" if success else "never")
        + f" · {health['consecutive_failures']} failed passes in a row ({health['failures_total']} in all)"
        + f" · lag {duration_text(health.get('lag_s'))}",
        highlight=False,
    )
    if health["consecutive_failures"] and health.get("last_error"):
        console.print(f"  last error: {health['last_error']}", highlight=False, markup=False)


def print_drift_report(data: dict[str, Any]) -> None:
    console = _console()
    if not data["groups"]:
        console.print("No samples yet: run `llmgate monitor` and send traffic through the gateway.")
        return
    for g in data["groups"]:
        ref, cur = g["reference"], g["current"]
        ref_text = "pinned baseline" if ref.get("kind") == "baseline" else f"first {ref.get('size')} requests"
        console.rule(f"{g['model']} · {g['route']} · {g['status'].upper()}")
        console.print(
            f"reference: {ref_text}, {ref.get('n', 0)} samples ({ref.get('since', '-')[:19]} to "
            f"{ref.get('until', '-')[:19]}); current: window {cur['window']}, {cur['n']} samples"
        )
        if g["status"] == "collecting":
            console.print("collecting: not enough samples in the reference or the current window yet")
            continue
        for kind in ("prompt", "response", "output", "rag"):
            stats = [s for s in g["statistics"] if s["kind"] == kind]
            if not stats:
                continue
            table = Table(title=_KIND_TITLE[kind], title_justify="left")
            for column in ("statistic", "value", "threshold", "p-value", "drifted"):
                table.add_column(column, justify="right" if column != "statistic" else "left")
            for s in stats:
                table.add_row(
                    s["name"],
                    _num(s["value"]),
                    _num(s["threshold"]),
                    _num(s["p_value"], 4),
                    "[red]yes[/]" if s["breached"] else "no",
                )
            console.print(table)
        grown = [c for c in g["clusters"] if c["growth"] > 0][:3]
        if grown:
            table = Table(title="Topics that grew (prompt clusters)", title_justify="left")
            for column in ("share before", "share now", "example now", "example before"):
                table.add_column(column, overflow="fold", max_width=50)
            for c in grown:
                table.add_row(
                    f"{c['reference_share']:.0%}",
                    f"{c['current_share']:.0%}",
                    (c["current_example"] or "-")[:120],
                    (c["reference_example"] or "-")[:120],
                )
            console.print(table)


def print_quality_report(data: dict[str, Any]) -> None:
    console = _console()
    if not data["groups"]:
        console.print(
            "No RAG requests scored yet. Send retrieved passages with a request (metadata.context, the "
            "x-llmgate-context header, tool messages or a <context> section) and run `llmgate monitor`."
        )
        return
    for g in data["groups"]:
        rated = {"good": " · rated good", "bad": " · rated bad", "unrated": " · unrated"}.get(
            g.get("feedback"), ""
        )
        console.rule(
            f"{g['model']} · {g['route']}{rated} · {g.get('n', 0)} requests · window {data['window']}"
        )
        metrics = g.get("metrics", {})
        table = Table()
        for column in ("metric", "mean", "p10", "below threshold", "threshold", "breached"):
            table.add_column(column, justify="right" if column != "metric" else "left")
        for name, m in metrics.items():
            table.add_row(
                name,
                _num(m.get("mean")),
                _num(m.get("p10")),
                f"{m.get('share_below', 0):.0%}",
                _num(m.get("threshold")),
                "[red]yes[/]" if name in g.get("breaches", []) else "no",
            )
        console.print(table)
        worst = g.get("worst", [])
        if worst:
            table = Table(title="Worst requests", title_justify="left")
            for column in ("record", "context rel.", "grounded", "answer rel.", "question"):
                table.add_column(column, overflow="fold", max_width=60)
            for w in worst:
                table.add_row(
                    w.get("record_id", "-"),
                    _num(w.get("context_relevance")),
                    _num(w.get("groundedness")),
                    _num(w.get("answer_relevance")),
                    (w.get("question") or "-")[:120],
                )
            console.print(table)
