"""Feedback drift: did users rate the current window's answers less (or worse) than the reference's?

Two output-drift statistics over the same reference and current windows as the others
(``evaluate.py`` reads the windows' feedback from the store; everything here is pure), each
computed only when its threshold is set (``OutputThresholds.feedback_rate`` / ``feedback_score``):

- ``feedback_rate``: the share of the window's requests that got any feedback (a score on the
  request itself, of any name or kind; feedback on a session is not a request's). ``value`` is the
  current minus the reference share; the test and the decision are the other rates'
  (``output_drift.rate_change``: Fisher's exact test, minimum absolute change ``feedback_rate``).
- ``feedback_score.<name>``: one per score name with numbers in both windows (a bool is 1 for
  thumbs up, 0 for down; labels have no mean), so a 1-5 rating and thumbs are never averaged
  together. A request rated twice under one name (by its key and by an admin) counts once, with
  the mean of its ratings. ``value`` is the current minus the reference mean; ``p`` is the
  two-sided Mann-Whitney U test (ranks with the tie correction: scores are few distinct values,
  0/1 or 1-5, where a KS p-value, made for continuous data, is far too conservative); drifted when
  ``p < p_value`` and the means differ by at least ``feedback_score`` (in the score's own units).

Feedback comes after the answer: the newest requests of a current window have had less time to be
rated than the reference's, so a rate threshold should allow for that lag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmgate.monitors.drift_results import Statistic
from llmgate.monitors.output_drift import OutputThresholds, decide, finite, rate_change

__all__ = ["FeedbackWindow", "feedback_drift", "feedback_window"]


@dataclass(frozen=True)
class FeedbackWindow:
    """The feedback of one window: its requests, how many got feedback, and per score name the
    numeric score of each rated request."""

    requests: int
    rated: int
    scores: Mapping[str, tuple[float, ...]] = field(default_factory=dict)


def feedback_window(request_ids: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> FeedbackWindow:
    """The window of ``request_ids`` from feedback rows (``request_id``, ``name``, ``value_num``:
    ``store.scores.feedback_rows``); rows of other requests are ignored."""
    ids = set(request_ids)
    rated: set[str] = set()
    values: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        request_id = row["request_id"]
        if request_id not in ids:
            continue
        rated.add(request_id)
        if row["value_num"] is not None:
            values.setdefault(row["name"], {}).setdefault(request_id, []).append(float(row["value_num"]))
    scores = {
        name: tuple(sum(given) / len(given) for given in per_request.values())
        for name, per_request in sorted(values.items())
    }
    return FeedbackWindow(requests=len(ids), rated=len(rated), scores=scores)


def feedback_drift(
    reference: FeedbackWindow, current: FeedbackWindow, thresholds: OutputThresholds
) -> tuple[Statistic, ...]:
    """The feedback statistics whose threshold is set; see the module doc. Pure, deterministic."""
    found: list[Statistic] = []
    if thresholds.feedback_rate is not None and reference.requests and current.requests:
        found.append(
            rate_change(
                "feedback_rate",
                (reference.rated, reference.requests),
                (current.rated, current.requests),
                thresholds,
            )
        )
    if thresholds.feedback_score is not None:
        for name in sorted(set(reference.scores) & set(current.scores)):
            ref, cur = reference.scores[name], current.scores[name]
            if ref and cur:
                found.append(_score_change(name, ref, cur, thresholds))
    return tuple(found)


def _score_change(
    name: str, reference: Sequence[float], current: Sequence[float], limits: OutputThresholds
) -> Statistic:
    # scipy (the monitors extra, optional and heavy): only when a score is compared
    from scipy.stats import mannwhitneyu

    ref_mean, cur_mean = sum(reference) / len(reference), sum(current) / len(current)
    same = len(set(reference) | set(current)) == 1  # one value in both windows: nothing to rank
    p = 1.0 if same else finite(mannwhitneyu(reference, current, alternative="two-sided").pvalue)
    details = {
        "score": name,
        "reference_mean": ref_mean,
        "current_mean": cur_mean,
        "reference_n": len(reference),
        "current_n": len(current),
        "test": "mann-whitney-u",
    }
    change = cur_mean - ref_mean
    return decide(
        f"feedback_score.{name}", change, abs(change), p, limits, details, threshold="feedback_score"
    )
