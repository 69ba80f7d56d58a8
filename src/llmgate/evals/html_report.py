"""An HTML report of runs: one self-contained file (inline CSS, no script, nothing fetched), to
keep as a CI artifact or open from a laptop.

Per run: the summary (suite, model, pass rate, cost, commit), the comparison with the baseline
when there is one (flipped cases with the old and new answers side by side), and a row per case
with its assertions; answers fold open with ``<details>``. Everything from the run is escaped.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from llmgate.evals.reported import Reported, failure_message
from llmgate.evals.results import CaseSummary, RunSummary
from llmgate.store.money import usd

if TYPE_CHECKING:
    from llmgate.evals.history import RunComparison

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d232a}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2.2rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0}
th,td{border-bottom:1px solid #dde2e8;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f8;font-weight:600}
.passed{color:#17803d;font-weight:600}.failed{color:#c0262d;font-weight:600}.error{color:#b35c00;font-weight:600}
.flaky{background:#fff4d6;border-radius:3px;padding:0 .3rem;margin-left:.3rem;font-size:.8rem}
.regression{background:#fde8e8;border:1px solid #f2b8b8;padding:.6rem .8rem;border-radius:4px}
.ok{background:#e7f6ec;border:1px solid #b6e2c4;padding:.6rem .8rem;border-radius:4px}
.meta{color:#5b6673}pre{white-space:pre-wrap;margin:.3rem 0;font:12px/1.4 ui-monospace,Menlo,monospace}
.a-pass{color:#17803d}.a-fail{color:#c0262d}.a-error{color:#b35c00}
"""


def _status(status: str, flaky: bool = False) -> str:
    badge = '<span class="flaky">flaky</span>' if flaky else ""
    return f'<span class="{escape(status)}">{escape(status)}</span>{badge}'


def _assertions(case: CaseSummary) -> str:
    items: list[str] = []
    for o in case.first.assertions:
        kind = "a-error" if o.error else ("a-pass" if o.passed else "a-fail")
        mark = "!" if o.error else ("✓" if o.passed else "✗")
        title = escape(o.error or o.reason or "", quote=True)
        items.append(f'<span class="{kind}" title="{title}">{mark} {escape(o.type)} {o.score:.2f}</span>')
    return "<br>".join(items)


def _answer(text: str | None) -> str:
    if text is None:
        return '<span class="meta">no answer</span>'
    short = escape(" ".join(text.split())[:90])
    return f"<details><summary>{short}</summary><pre>{escape(text)}</pre></details>"


def _comparison(comparison: RunComparison) -> str:
    c = comparison.comparison
    verdict = "Regression" if c.regression else "No regression"
    parts = [
        f'<div class="{"regression" if c.regression else "ok"}"><b>{verdict}</b> against baseline run '
        f"<code>{escape(comparison.baseline.run_id[:12])}</code>: pass rate "
        f"{c.baseline_pass_rate:.0%} → {c.current_pass_rate:.0%}, {escape(c.method)} p = {c.p_value:.4f}"
        f"{' (the suite changed since the baseline)' if comparison.suite_changed else ''}</div>"
    ]
    if comparison.flips:
        rows = "".join(
            f"<tr><td>{escape(f.case_id)}</td>"
            f"<td>{'pass → fail' if f.direction == 'to_fail' else 'fail → pass'}</td>"
            f"<td>{_answer(f.old_output)}</td><td>{_answer(f.new_output)}</td><td>{escape(f.reason)}</td></tr>"
            for f in comparison.flips
        )
        parts.append(
            "<table><tr><th>case</th><th>flip</th><th>baseline answer</th><th>new answer</th>"
            f"<th>why</th></tr>{rows}</table>"
        )
    if c.flaky:
        parts.append(f"<p>Flaky (repetitions disagree): {escape(', '.join(c.flaky))}</p>")
    return "".join(parts)


def _run(summary: RunSummary, comparison: RunComparison | None) -> str:
    counts = summary.counts()
    cost = usd(summary.cost_usd) if summary.cost_usd is not None else "unknown"
    meta = (
        f"run <code>{escape(summary.run_id)}</code> · {summary.started_at:%Y-%m-%d %H:%M:%S} UTC · "
        f"repeat {summary.repeat} · cost {cost}"
        + (f" · commit <code>{escape(summary.git_commit[:12])}</code>" if summary.git_commit else "")
    )
    head = (
        f"<h2>{escape(summary.suite)} on {escape(summary.model)} — {_status(summary.status)}</h2>"
        f'<p class="meta">{meta}</p>'
        f"<p>{counts['passed']} of {counts['cases']} cases passed, {counts['failed']} failed, "
        f"{counts['errors']} errors · pass rate {summary.pass_rate:.1%} · "
        f"mean score {summary.mean_score:.3f}</p>"
    )
    rows = []
    for case in summary.cases():
        why = "" if case.status == "passed" else escape(failure_message(case))
        latency = case.latency_ms / max(1, len(case.results))
        rows.append(
            f"<tr><td>{escape(case.case_id)}</td><td>{_status(case.status, case.flaky)}</td>"
            f"<td>{case.score:.3f}</td><td>{_assertions(case)}</td><td>{latency:.0f}</td>"
            f"<td>{_answer(case.first.output)}</td><td>{why}</td></tr>"
        )
    table = (
        "<table><tr><th>case</th><th>status</th><th>score</th><th>assertions</th><th>ms</th>"
        f"<th>answer</th><th>why</th></tr>{''.join(rows)}</table>"
    )
    return head + (_comparison(comparison) if comparison is not None else "") + table


def to_html(runs: list[Reported]) -> str:
    """The report as one HTML document."""
    title = ", ".join(sorted({s.suite for s, _ in runs})) or "eval"
    body = "".join(_run(summary, comparison) for summary, comparison in runs)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>llmgate eval: {escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>llmgate eval: {escape(title)}</h1>{body}</body></html>\n"
    )
