"""A session as a tree of calls with its totals, and the list of sessions: the shapes every surface shows.

``llmgate logs --session``, ``llmgate sessions list``, ``GET /admin/sessions[/{id}]`` and the
dashboard's Sessions page all read the store through ``store/call_sessions.py`` and shape what
they read here, so they always agree.

- ``session_tree``: a session's calls (oldest first) as a forest: a call whose ``parent_id`` is
  another call of the session hangs under it; every other call (no parent, or one outside the
  session) is a root. Roots and children are in time order.
- ``session_totals``: calls, errors, tokens, cost (the calls with a known price; ``cost_unknown``
  counts the others), the sum of the calls' latencies, and the wall-clock span from the first
  call's start to the last one's end.
- ``session_json``: one session for the API and the dashboard: its totals, and its calls
  depth-first (the tree's reading order) with their depth, step, start offset from the session's
  start (``offset_ms``, for the waterfall) and latency. ``sessions_json`` / ``sessions_csv``:
  the list. Money goes out as exact text (``store/money.py``: ``cost_text``), times as ISO 8601 with
  their offset; CSV text cells are neutralised against spreadsheet formulas (``csv_text``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from llmgate.reports.spend import FORMULA_TRIGGERS, csv_text
from llmgate.store.money import cost_text

__all__ = [
    "LIST_COLUMNS",
    "Node",
    "depth_first",
    "session_json",
    "session_totals",
    "session_tree",
    "sessions_csv",
    "sessions_json",
]

Row = dict[str, Any]
#: the list's columns, in the CSV's order
LIST_COLUMNS = (
    "session_id",
    "first_at",
    "last_at",
    "calls",
    "errors",
    "users",
    "models",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "cost_unknown",
)


@dataclass
class Node:
    call: Row
    children: list[Node] = field(default_factory=list)


def session_tree(calls: list[Row]) -> list[Node]:
    """The calls as a forest (see the module docstring); ``calls`` oldest first."""
    nodes = {call["id"]: Node(call) for call in calls}
    roots: list[Node] = []
    for call in calls:
        parent = nodes.get(call.get("parent_id") or "")
        if parent is None or parent.call["id"] == call["id"]:
            roots.append(nodes[call["id"]])
        else:
            parent.children.append(nodes[call["id"]])
    # a loop of parents (rows written by hand) reaches no root: each of its calls becomes one
    reached = {id(node) for _, node in depth_first(roots)}
    roots += [node for node in nodes.values() if id(node) not in reached]
    return sorted(roots, key=_start)


def depth_first(roots: list[Node]) -> list[tuple[int, Node]]:
    """Every node once, parents before their children, with its depth (0 for a root)."""
    out: list[tuple[int, Node]] = []
    seen: set[int] = set()
    stack = [(0, node) for node in reversed(roots)]
    while stack:
        depth, node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        out.append((depth, node))
        stack += [(depth + 1, child) for child in reversed(sorted(node.children, key=_start))]
    return out


def session_totals(calls: list[Row]) -> dict[str, Any]:
    """What a session's calls add up to (``cost_usd`` a ``Decimal``, None when no call was priced)."""
    priced = [c["cost_usd"] for c in calls if c.get("cost_usd") is not None]
    first = min((c["created_at"] for c in calls), default=None)
    ends = [c["created_at"] + timedelta(milliseconds=c.get("latency_ms") or 0.0) for c in calls]
    return {
        "calls": len(calls),
        "errors": sum(1 for c in calls if c.get("status") == "error"),
        "prompt_tokens": sum(c.get("prompt_tokens") or 0 for c in calls),
        "completion_tokens": sum(c.get("completion_tokens") or 0 for c in calls),
        "total_tokens": sum(c.get("total_tokens") or 0 for c in calls),
        "cost_usd": sum(priced, Decimal(0)) if priced else None,
        "cost_unknown": sum(1 for c in calls if c.get("cost_unknown")),
        "latency_ms": round(sum(c.get("latency_ms") or 0.0 for c in calls), 3),
        "wall_ms": round((max(ends) - first).total_seconds() * 1000, 3) if first is not None else 0.0,
        "first_at": first,
        "last_at": max((c["created_at"] for c in calls), default=None),
        "users": sorted({c["user"] for c in calls if c.get("user") is not None}),
        "models": sorted({c["model"] for c in calls if c.get("model") is not None}),
        "steps": sorted({c["step"] for c in calls if c.get("step") is not None}),
    }


def session_json(session_id: str, calls: list[Row]) -> dict[str, Any]:
    """One session for the API and the dashboard (see the module docstring)."""
    totals = session_totals(calls)
    start: datetime | None = totals["first_at"]
    ids = {call["id"] for call in calls}
    shown = []
    for depth, node in depth_first(session_tree(calls)):
        call = node.call
        out = {key: _plain(value) for key, value in call.items() if key != "session_id"}
        out["depth"] = depth
        out["parent_known"] = call.get("parent_id") in ids
        out["children"] = len(node.children)
        out["offset_ms"] = round((call["created_at"] - start).total_seconds() * 1000, 3) if start else 0.0
        shown.append(out)
    return {"session_id": session_id, "totals": _plain_dict(totals), "calls": shown}


def sessions_json(sessions: list[Row]) -> list[dict[str, Any]]:
    """The list of sessions (``store.call_sessions.list_sessions``) as JSON values."""
    return [_plain_dict(session) for session in sessions]


def sessions_csv(sessions: list[Row]) -> str:
    """Header and one row per session; users and models joined by spaces; money exact."""
    lines = [",".join(LIST_COLUMNS) + "\r\n"]
    for session in sessions:
        cells = []
        for name in LIST_COLUMNS:
            value = session.get(name)
            if isinstance(value, list):
                cells.append(_cell(" ".join(value)))
            elif value is None:
                cells.append("")
            elif isinstance(value, bool | int | float):
                cells.append(str(value))
            else:
                cells.append(_cell(str(_plain(value))))
        lines.append(",".join(cells) + "\r\n")
    return "".join(lines)


def _start(node: Node) -> tuple[datetime, str]:
    return node.call["created_at"], node.call["id"]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return cost_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _plain_dict(row: Row) -> dict[str, Any]:
    return {key: _plain(value) for key, value in row.items()}


def _cell(text: str) -> str:
    neutral = csv_text(text)
    if text.startswith(FORMULA_TRIGGERS) or any(c in neutral for c in ',"\r\n'):
        return '"' + neutral.replace('"', '""') + '"'
    return neutral
