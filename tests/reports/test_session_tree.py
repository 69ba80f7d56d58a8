"""A session's calls as a tree and its totals (``reports/sessions.py``), on hand-made rows: parents
outside the session and calls naming themselves at the root, a loop of parents still shown once
each, a long chain without recursion, totals with a call of unknown cost and one without tokens,
and the list's CSV neutral to spreadsheet formulas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from llmgate.cli.sessions import _walk
from llmgate.reports.sessions import depth_first, session_json, session_totals, session_tree, sessions_csv

T0 = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


def call(n: int, parent: int | str | None = None, *, at: float | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{n:032x}",
        "created_at": T0 + timedelta(seconds=n if at is None else at),
        "parent_id": f"{parent:032x}" if isinstance(parent, int) else parent,
        "model": "gpt",
        "status": "success",
        "prompt_tokens": 10,
        "completion_tokens": 2,
        "total_tokens": 12,
        "cost_usd": Decimal("0.0001"),
        "cost_unknown": False,
        "latency_ms": 500.0,
        "session_id": "s",
        **extra,
    }


def shape(calls: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(int(node.call["id"], 16), depth) for depth, node in depth_first(session_tree(calls))]


def test_children_in_time_order_under_their_parents_and_strangers_at_the_root() -> None:
    calls = [call(1), call(2, 1), call(3, 1, at=2.5), call(4, 2), call(5, "f" * 32), call(6, 6)]
    calls[2]["created_at"] = T0 + timedelta(seconds=1.5)  # 3 started before 2: it comes first
    calls.sort(key=lambda c: c["created_at"])
    assert shape(calls) == [(1, 0), (3, 1), (2, 1), (4, 2), (5, 0), (6, 0)]


def test_a_loop_of_parents_shows_every_call_once() -> None:
    calls = [call(1), call(2, 3), call(3, 2)]
    shown = shape(calls)
    assert sorted(n for n, _ in shown) == [1, 2, 3] and shown[0] == (1, 0)


def test_a_long_chain_needs_no_recursion() -> None:
    calls = [call(1)] + [call(n, n - 1, at=n / 1000) for n in range(2, 5002)]
    shown = shape(calls)
    assert len(shown) == 5001 and shown[-1] == (5001, 5000)
    prefixes = [prefix for prefix, _ in _walk(session_tree(calls))]
    assert len(prefixes) == 5001 and prefixes[2] == "   └─ "


def test_totals() -> None:
    calls = [
        call(1),
        call(2, 1, cost_usd=None, cost_unknown=True, status="error"),
        call(3, prompt_tokens=None),
    ]
    totals = session_totals(calls)
    assert (totals["calls"], totals["errors"], totals["cost_usd"], totals["cost_unknown"]) == (
        3,
        1,
        Decimal("0.0002"),
        1,
    )
    assert (totals["prompt_tokens"], totals["completion_tokens"], totals["latency_ms"]) == (20, 6, 1500.0)
    assert totals["wall_ms"] == 2500.0  # from 12:00:01 to 12:00:03.5
    shown = session_json("s", calls)
    assert shown["totals"]["cost_usd"] == "0.0002000000"
    assert [c["offset_ms"] for c in shown["calls"]] == [0.0, 1000.0, 2000.0]
    assert session_totals([])["cost_usd"] is None


def test_the_lists_csv_never_hands_a_spreadsheet_a_formula() -> None:
    line = {
        "session_id": "=1+1",
        "first_at": T0,
        "last_at": T0,
        "calls": 1,
        "errors": 0,
        "users": ["@bob", "alice"],
        "models": ["gpt"],
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "total_tokens": 2,
        "cost_usd": Decimal("0.5"),
        "cost_unknown": 0,
    }
    (_, row) = sessions_csv([line]).splitlines()
    assert row.startswith('"\'=1+1",') and ',"\'@bob alice",gpt,' in row and ",0.5000000000,0" in row
