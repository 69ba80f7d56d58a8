"""An eval run's scores on the requests it made, for the ``scores`` table.

Each case's answer is a request the gateway recorded, under the id it returns in
``x-llmgate-request-id`` (``calls.Reply.request_id``, kept on the ``CaseResult``). When a run is
stored, each assertion's score lands on that request beside the users' feedback and the
monitor's scores (``store.scores.put_request_scores``), so a request shows every score it got:

- source ``eval:<run id>``; name the assertion's ``metric`` when it has one, else its type
  (``grounded``, ``contains``...), cut to the store's longest name; a second assertion of the same
  name on one case is ``NAME#2``, and so on, in the suite's order;
- value the assertion's score (0 to 1), comment its reason (cut to the store's longest comment);
- an assertion that could not be checked (``error``) has no score and writes none, and a case
  whose model call failed, or whose gateway gave no request id, writes nothing.

Storing the same run again leaves the same rows (the store sets the source's scores per request).
"""

from __future__ import annotations

from typing import Any

from llmgate.evals.results import RunSummary
from llmgate.store.score_tables import MAX_COMMENT, MAX_NAME

__all__ = ["SOURCE_PREFIX", "request_score_rows", "source_of"]

SOURCE_PREFIX = "eval:"


def source_of(run_id: str) -> str:
    """The ``scores.source`` of run ``run_id``'s scores."""
    return SOURCE_PREFIX + run_id


def request_score_rows(summary: RunSummary) -> list[dict[str, Any]]:
    """``target_id``, ``name``, ``value`` and ``comment`` of every score ``summary`` gives a request."""
    rows: list[dict[str, Any]] = []
    for result in summary.results:
        if result.request_id is None:
            continue
        seen: dict[str, int] = {}
        for outcome in result.assertions:
            base = (outcome.metric or outcome.type)[:MAX_NAME]
            seen[base] = seen.get(base, 0) + 1
            if outcome.error is not None:
                continue
            suffix = f"#{seen[base]}" if seen[base] > 1 else ""
            rows.append(
                {
                    "target_id": result.request_id,
                    "name": base[: MAX_NAME - len(suffix)] + suffix,
                    "value": outcome.score,
                    "comment": outcome.reason[:MAX_COMMENT] or None,
                }
            )
    return rows
