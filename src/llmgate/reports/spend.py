"""Spend reports for finance: who spent what on which model, in which period.

``spend_report`` answers ``llmgate report spend`` and ``GET /admin/spend/report`` alike: requests
(and of them how many ``succeeded``, ``failed`` and were ``rejected``, as ``store.spend.OUTCOMES``
defines them), input (prompt) and output (completion) tokens and cost per group, plus a totals row.
Groups are any mix of ``team``, ``key``, ``user``, ``model``, ``provider``, ``endpoint`` (the path
after ``/v1/``: ``chat/completions``, ``embeddings``, ``responses``, ...), ``day``, ``week``,
``month``, ``tag:NAME`` and ``feedback`` (the users' combined rating of each request, as
``reports/feedback_rating.py`` rules: ``good``, ``bad`` or ``unrated``). The sums come from
``store.rollup_reads.spend_sums``: summed in SQL over every recorded request (successes and errors; a
missing cost counts as 0) and exact, integers and ``Decimal`` throughout, never floats. Calendar
groups are local to ``llmgate.time_zone``: the store groups by local date and this module rolls
dates up into weeks (starting Monday) and months.

Formats (``to_json``, ``to_csv``, ``table``):

- ``cost_usd`` in JSON and CSV is a decimal string with all 10 stored places (``"12.3456789012"``),
  so a spreadsheet or ``Decimal(...)`` reads it exactly; the table shows it for people
  (``store.money.usd``: ``$12.35``, and a small amount with the places it needs, ``$0.00429``).
- The columns are those of ``METRICS``: ``requests``, tokens and cost first, as they always were,
  then ``succeeded``, ``failed`` and ``rejected`` (which add up to ``requests``), then the response
  cache's: ``saved_usd``, what its hits would have cost at the prices of the day each was served
  (money as ``cost_usd``; a hit itself costs 0), and ``hit_rate``, the share of the group's
  requests it answered (hits / requests, from 0 to 1; 0 for no requests; the table shows a
  percentage).
- Labels: ``day`` ``2026-11-01``, ``week`` the date of its Monday (``2026-10-26``), ``month``
  ``2026-11``; ``key`` the key's alias (with its id in ``key_id``); a request without the
  dimension (no team, no key, no such tag) is ``null`` in JSON and ``(none)`` in CSV and tables.
- CSV: a header row, one row per group, then the totals row, whose first group column reads
  ``TOTAL`` (with no group-by there is just the totals row). Text cells (headers and labels, which
  carry names that clients and admins chose) are neutralised as OWASP advises against CSV
  injection: one that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
  leading ``'`` and is quoted, so a spreadsheet shows it as text and never runs it as a formula.
  Metric cells are numbers this module writes and stay numbers (a negative cost stays ``-0.5``),
  so a spreadsheet's sums still work.

``since`` / ``until`` are read by ``config.time_range`` (a date is midnight in the time zone, as
everywhere); ``until`` is exclusive.

``pricing_gaps`` lists the requests recorded without a known price (``cost_unknown``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from llmgate.config.time_range import local_midnight
from llmgate.errors import InvalidRequest
from llmgate.store.keys import load_keys
from llmgate.store.money import cost_text, usd
from llmgate.store.pricing_gaps import PricingGap
from llmgate.store.pricing_gaps import pricing_gaps as store_pricing_gaps
from llmgate.store.rollup_reads import spend_sums
from llmgate.store.spend import OUTCOMES, TAG_PREFIX, tag_name

#: The ``--group-by`` names besides ``tag:NAME``.
GROUP_BYS = ("team", "key", "user", "model", "provider", "endpoint", "day", "week", "month", "feedback")
CALENDAR = ("day", "week", "month")
#: the output columns after the groups; newer ones (the outcome counts, then the response cache's)
#: come after the older, so the columns a spreadsheet already reads by position keep their places
METRICS = ("requests", "input_tokens", "output_tokens", "cost_usd", *OUTCOMES, "saved_usd", "hit_rate")
TOTAL_LABEL = "TOTAL"
NONE_LABEL = "(none)"
#: a spreadsheet takes a cell that starts with one of these for a formula (OWASP, "CSV Injection")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class SpendLine:
    """One group's sums; ``group`` has one label per ``group_by`` entry (a key's id for ``key``)."""

    group: tuple[str | None, ...]
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    saved_usd: Decimal = Decimal(0)
    cache_hits: int = 0

    @property
    def hit_rate(self) -> float:
        """The share of the requests the response cache answered (0 without requests)."""
        return self.cache_hits / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class SpendReport:
    since: datetime
    until: datetime | None
    time_zone: str
    group_by: tuple[str, ...]
    lines: list[SpendLine]
    total: SpendLine
    key_aliases: dict[str, str]


# --- parameters ------------------------------------------------------------------------------


def parse_group_by(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"team,model,month"`` (or a list of names) as a checked tuple, duplicates dropped."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else [p for v in value for p in v.split(",")]
    names: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item.lower().startswith(TAG_PREFIX):
            name = TAG_PREFIX + item[len(TAG_PREFIX) :]
            try:
                tag_name(name)
            except ValueError:
                raise InvalidRequest(f"group_by: invalid tag name in {item!r}", param="group_by") from None
        elif item.lower() in GROUP_BYS:
            name = item.lower()
        else:
            raise InvalidRequest(
                f"group_by: unknown group {item!r}; use {', '.join(GROUP_BYS)} or tag:NAME",
                param="group_by",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def month_start(tz: str, now: datetime | None = None) -> datetime:
    """The start of the current month in ``tz`` (the default ``since``)."""
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(tz)).date()
    return local_midnight(today.replace(day=1), tz)


# --- the report ------------------------------------------------------------------------------


def spend_report(
    engine: Engine,
    *,
    since: datetime,
    until: datetime | None = None,
    group_by: Sequence[str] = (),
    tz: str = "UTC",
) -> SpendReport:
    """Sums per group over the requests recorded in ``[since, until)``; see the module docstring."""
    group_by = parse_group_by(list(group_by))
    if until is not None and until <= since:
        raise InvalidRequest("until: must be later than since", param="until")
    # by month alone, the store sums months (hundreds of groups a year, not tens of thousands of days)
    calendar = "month" if "month" in group_by and not {"day", "week"} & set(group_by) else "date"
    dimensions: list[str] = []
    for name in group_by:
        dimension = calendar if name in CALENDAR else name
        if dimension not in dimensions:
            dimensions.append(dimension)
    sums = spend_sums(engine, dimensions, since, until, tz)
    position = {dimension: index for index, dimension in enumerate(dimensions)}
    totals: dict[tuple[str | None, ...], list[Any]] = {}
    for row in sums:
        label = tuple(
            _label(name, row.groups[position[calendar if name in CALENDAR else name]]) for name in group_by
        )
        acc = totals.setdefault(label, _zeros())  # as SpendLine, after group
        figures = (row.requests, row.prompt_tokens, row.completion_tokens, row.cost_usd)
        outcomes = (row.succeeded, row.failed, row.rejected)
        for index, value in enumerate((*figures, *outcomes, row.saved_usd, row.cache_hits)):
            acc[index] += value
    aliases = {key.id: key.alias for key in load_keys(engine)} if "key" in group_by else {}

    def order(label: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
        shown = (
            aliases.get(v, v) if n == "key" and v is not None else v
            for n, v in zip(group_by, label, strict=True)
        )
        return tuple((value is None, value or "") for value in shown)

    ordered = sorted(totals.items(), key=lambda item: order(item[0]))
    lines = [SpendLine(label, *acc) for label, acc in ordered] if group_by else []
    total = SpendLine((), *([sum(column) for column in zip(*totals.values(), strict=True)] or _zeros()))
    return SpendReport(since, until, tz, group_by, lines, total, aliases)


def _zeros() -> list[Any]:
    """A ``SpendLine``'s figures, after its group, all 0."""
    return [0, 0, 0, Decimal(0), 0, 0, 0, Decimal(0), 0]


def _label(name: str, value: str | date | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if name == "week":
        return (value - timedelta(days=value.weekday())).isoformat()
    if name == "month":
        return value.strftime("%Y-%m")
    return value.isoformat()


# --- formats ---------------------------------------------------------------------------------


def columns(report: SpendReport, *, key_ids: bool = True) -> list[str]:
    """The output columns: one per group (``key`` also gives ``key_id``), then the metrics."""
    names: list[str] = []
    for name in report.group_by:
        names.append(name)
        if name == "key" and key_ids:
            names.append("key_id")
    return [*names, *METRICS]


def _record(report: SpendReport, line: SpendLine) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in zip(report.group_by, line.group, strict=True):
        if name == "key":
            out["key"] = report.key_aliases.get(value, value) if value is not None else None
            out["key_id"] = value
        else:
            out[name] = value
    out.update(_totals(line))
    return out


def _totals(line: SpendLine) -> dict[str, Any]:
    return {
        "requests": line.requests,
        "input_tokens": line.input_tokens,
        "output_tokens": line.output_tokens,
        "cost_usd": cost_text(line.cost_usd),
        "succeeded": line.succeeded,
        "failed": line.failed,
        "rejected": line.rejected,
        "saved_usd": cost_text(line.saved_usd),
        "hit_rate": line.hit_rate,
    }


def to_json(report: SpendReport) -> dict[str, Any]:
    """The report as JSON-ready data: parameters, ``rows`` and ``totals`` (costs as strings)."""
    return {
        "since": report.since.isoformat(),
        "until": report.until.isoformat() if report.until is not None else None,
        "time_zone": report.time_zone,
        "group_by": list(report.group_by),
        "currency": "USD",
        "rows": [_record(report, line) for line in report.lines],
        "totals": _totals(report.total),
    }


def csv_text(value: str) -> str:
    """A text cell no spreadsheet runs as a formula: a leading formula trigger gets a ``'`` first."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def to_csv(report: SpendReport) -> str:
    """Header, one row per group, and the totals row (``TOTAL`` in the first group column).

    Text cells go through ``csv_text``, and a neutralised one is always quoted; the metric cells
    are numbers and are written as they are (never quoted, never prefixed).
    """
    names = columns(report)
    groups = names[: len(names) - len(METRICS)]
    lines = [_csv_line(names, [])]
    for line in report.lines:
        record = _record(report, line)
        labels = [NONE_LABEL if record[n] is None else str(record[n]) for n in groups]
        lines.append(_csv_line(labels, [record[m] for m in METRICS]))
    total = _totals(report.total)
    labels = [TOTAL_LABEL if i == 0 else "" for i in range(len(groups))]
    lines.append(_csv_line(labels, [total[m] for m in METRICS]))
    return "".join(lines)


def _csv_line(texts: list[str], numbers: list[Any]) -> str:
    cells = [_csv_quote(csv_text(t), always=t.startswith(FORMULA_TRIGGERS)) for t in texts]
    return ",".join([*cells, *(str(n) for n in numbers)]) + "\r\n"


def _csv_quote(text: str, *, always: bool) -> str:
    """RFC 4180: quoted when it must be (a comma, a quote, a line break) or when ``always``."""
    if always or any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def table(report: SpendReport) -> tuple[list[str], list[list[str]], list[str]]:
    """Headers, rows and the totals row as text for a terminal table (costs as ``usd`` shows them;
    the cost stays the last column, after the cache's hit rate and savings)."""
    names = columns(report, key_ids=False)
    groups = names[: len(names) - len(METRICS)]
    headers = [
        *groups,
        "requests",
        "succeeded",
        "failed",
        "rejected",
        "input tokens",
        "output tokens",
        "hit rate",
        "saved (USD)",
        "cost (USD)",
    ]

    def metrics(line: SpendLine) -> list[str]:
        counts = (
            line.requests,
            line.succeeded,
            line.failed,
            line.rejected,
            line.input_tokens,
            line.output_tokens,
        )
        return [*(f"{count:,}" for count in counts), _share(line), usd(line.saved_usd), usd(line.cost_usd)]

    rows = []
    for line in report.lines:
        record = _record(report, line)
        rows.append([NONE_LABEL if record[g] is None else str(record[g]) for g in groups] + metrics(line))
    total = [TOTAL_LABEL if i == 0 else "" for i in range(len(groups))] + metrics(report.total)
    return headers, rows, total


def _share(line: SpendLine) -> str:
    """The hit rate for people: ``25.0%``, ``0.0%``."""
    return f"{line.hit_rate:.1%}"


# --- pricing gaps ----------------------------------------------------------------------------


def pricing_gaps(
    engine: Engine, *, since: datetime | None = None, until: datetime | None = None
) -> list[PricingGap]:
    """Requests recorded with ``cost_unknown`` per model / deployment / provider, most first."""
    return store_pricing_gaps(engine, since, until)


def gaps_to_json(gaps: list[PricingGap]) -> list[dict[str, Any]]:
    return [
        {
            "model": gap.model,
            "deployment": gap.deployment,
            "provider": gap.provider,
            "requests": gap.requests,
            "first_seen": gap.first_seen.isoformat(),
            "last_seen": gap.last_seen.isoformat(),
        }
        for gap in gaps
    ]
