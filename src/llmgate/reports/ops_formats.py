"""The operations report (``reports/ops.py``) for spreadsheets and for people: its CSV and its tables.

- ``to_csv``: long form, ``section,name,metric,value``, one row per figure of ``to_json`` (an empty
  value: nothing measured). Text cells (alert kinds, model groups, deployments, canary ids: names
  that admins and clients chose) are neutralised as ``reports/spend.py``'s ``csv_text`` does, so a
  spreadsheet shows them as text and never runs them as formulas.
- ``tables``: one terminal table per section, with a note under it (``llmgate report ops``).
  Durations go through ``config/time_range.py``'s ``duration_text`` (as every report's do) and shares
  through ``share_text``: the only formatting of either in this report.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from llmgate.config.time_range import duration_text
from llmgate.reports.ops import OpsReport, to_json
from llmgate.reports.spend import FORMULA_TRIGGERS, NONE_LABEL, TOTAL_LABEL, csv_text

__all__ = ["Table", "share_text", "tables", "to_csv"]


def to_csv(report: OpsReport) -> str:
    """``section,name,metric,value``: one row per figure (an empty value: nothing measured)."""
    data = to_json(report)
    lines = ["section,name,metric,value\r\n"]
    for line in [*data["alerts"]["kinds"], data["alerts"]["total"]]:
        lines += _csv_rows("alerts", line["kind"], line, skip=("kind",))
    for section in ("model_groups", "deployments"):
        for line in data["availability"][section]:
            lines += _csv_rows(section, line["name"], line, skip=("name",))
    lines += _csv_rows("availability", TOTAL_LABEL, data["availability"]["total"], skip=("name",))
    lines += _csv_rows("canaries", TOTAL_LABEL, data["canaries"]["summary"])
    for item in data["canaries"]["items"]:
        shown = {k: v for k, v in item.items() if k != "candidate"}
        lines += _csv_rows("canary", item["id"], shown, skip=("id",))
    cover = {k: v for k, v in data["coverage"].items() if k != "eval_models"}
    cover["eval_models"] = " ".join(data["coverage"]["eval_models"])
    lines += _csv_rows("coverage", TOTAL_LABEL, cover)
    return "".join(lines)


def _csv_rows(
    section: str, name: str | None, figures: Mapping[str, Any], skip: tuple[str, ...] = ()
) -> list[str]:
    return [
        _csv_row(section, NONE_LABEL if name is None else name, metric, value)
        for metric, value in figures.items()
        if metric not in skip
    ]


def _csv_row(section: str, name: str, metric: str, value: Any) -> str:
    cells = [_csv_cell(section), _csv_cell(name), _csv_cell(metric)]
    if value is None:
        cells.append("")
    elif isinstance(value, bool | int | float):
        cells.append(str(value))
    else:
        cells.append(_csv_cell(str(value)))
    return ",".join(cells) + "\r\n"


def _csv_cell(text: str) -> str:
    """A text cell: neutralised against formulas (``csv_text``), quoted when it must be."""
    neutral = csv_text(text)
    if text.startswith(FORMULA_TRIGGERS) or any(c in neutral for c in ',"\r\n'):
        return '"' + neutral.replace('"', '""') + '"'
    return neutral


def share_text(share: float | None) -> str:
    """A share for people, to a hundredth of a percent (``99.95%``); ``-`` when nothing was counted."""
    return "-" if share is None else f"{share:.2%}"


Table = tuple[str, list[str], list[list[str]], int, str | None]


def tables(report: OpsReport) -> list[Table]:
    """The report as terminal tables: (title, headers, rows, right-aligned columns, a note or None)."""
    data = to_json(report)
    out: list[Table] = [_alerts_table(data["alerts"])]
    for key, title in (("model_groups", "Availability per model group"), ("deployments", "per deployment")):
        rows = [_traffic_cells(line) for line in data["availability"][key]]
        if key == "model_groups" and rows:
            rows.append(_traffic_cells(data["availability"]["total"]))
        out.append(
            (title, [key[:-1].replace("_", " "), *_TRAFFIC_HEADERS], rows, len(_TRAFFIC_HEADERS), None)
        )
    out.append(_canaries_table(data["canaries"]))
    cover = data["coverage"]
    models = ", ".join(cover["eval_models"]) or "none"
    out.append(
        (
            "Monitoring coverage",
            ["requests", "sampled by monitors", "share", "covered by scheduled evals", "share"],
            [
                [
                    f"{cover['requests']:,}",
                    f"{cover['sampled']:,}",
                    share_text(cover["sampled_share"]),
                    f"{cover['eval_covered']:,}",
                    share_text(cover["eval_share"]),
                ]
            ],
            5,
            f"models with a scheduled eval run: {models}",
        )
    )
    return out


def _alerts_table(alerts: dict[str, Any]) -> Table:
    headers = ["kind", "alerts", "MTTD", "no start", "MTTR", "resolved", "unresolved", "notices"]
    rows = [_alert_cells(line) for line in alerts["kinds"]]
    if rows:
        rows.append(_alert_cells(alerts["total"]))
    total = alerts["total"]
    note = (
        f"MTTD over {total['detected']} alert(s) with a known first affected record "
        f"({total['no_start']} without); MTTR over {total['resolved']} resolved "
        f"({total['unresolved']} open). "
        "Notices (info: *.resolved, canary.promoted) are counted, not timed."
    )
    return "Alerts", headers, rows, 7, note


def _alert_cells(line: dict[str, Any]) -> list[str]:
    return [
        line["kind"],
        f"{line['alerts']:,}",
        duration_text(line["mttd_s"]),
        f"{line['no_start']:,}",
        duration_text(line["mttr_s"]),
        f"{line['resolved']:,}",
        f"{line['unresolved']:,}",
        f"{line['notices']:,}",
    ]


_TRAFFIC_HEADERS = [
    "requests",
    "rejected",
    "succeeded",
    "availability",
    "without fallbacks",
    "fallback rate",
    "retry rate",
]


def _traffic_cells(line: dict[str, Any]) -> list[str]:
    return [
        NONE_LABEL if line["name"] is None else line["name"],
        f"{line['requests']:,}",
        f"{line['rejected']:,}",
        f"{line['succeeded']:,}",
        share_text(line["availability"]),
        share_text(line["availability_without_fallbacks"]),
        share_text(line["fallback_rate"]),
        share_text(line["retry_rate"]),
    ]


def _canaries_table(canaries: dict[str, Any]) -> Table:
    headers = [
        "canary",
        "model",
        "outcome",
        "started (UTC)",
        "percent",
        "time to decision",
        "candidate requests",
    ]
    rows = [
        [
            item["id"],
            item["model"],
            item["outcome"],
            datetime.fromisoformat(item["started_at"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            f"{item['percent']:g}%",
            duration_text(item["time_to_decision_s"]),
            f"{item['candidate_requests']:,}",
        ]
        for item in canaries["items"]
    ]
    s = canaries["summary"]
    note = (
        f"promoted {s['promoted']} (mean {duration_text(s['mean_time_to_promoted_s'])}, "
        f"{_count_text(s['mean_candidate_requests_to_promoted'])} candidate requests), "
        f"rolled back {s['rolled_back']} (mean {duration_text(s['mean_time_to_rolled_back_s'])}, "
        f"{_count_text(s['mean_candidate_requests_to_rolled_back'])} candidate requests), "
        f"cancelled {s['cancelled']}, active {s['active']}"
    )
    return "Canaries", headers, rows, 3, note


def _count_text(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"
