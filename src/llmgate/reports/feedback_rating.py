"""Whether users rated an answer good or bad: the one rule, for datasets and reports alike.

A user's score (``POST /v1/feedback``: a bool, a number or a label, stored by ``store/scores.py``
as ``kind`` with ``value_num`` / ``value_label``) rates the answer:

- a bool: true is ``good``, false ``bad`` (thumbs up / down);
- a label: ``up``, ``good``, ``positive``, ``yes``, ``correct``, ``like``, ``👍`` (any case) are
  ``good``; ``down``, ``bad``, ``negative``, ``no``, ``incorrect``, ``wrong``, ``dislike``, ``👎``
  are ``bad``; any other label rates nothing;
- a number in [0, 1] (a share, a probability): at least 0.5 is ``good``, below ``bad``; any other
  number by its sign (the +1 / -1 thumbs convention): positive ``good``, negative ``bad``, 0
  nothing. (A 1-5 star scale is therefore always ``good``: give stars a name of their own and
  filter on their value instead.)

Only users' feedback rates an answer (sources ``key:<id>``, ``master``, ``anonymous``), never a
monitor or an eval, which score it. Several ratings of one answer combine to ``bad`` when any is
bad (a disputed answer is not a reference), else ``good`` when any is good, else ``None``.

The lists of labels and sources live in ``store/feedback_ratings.py``, with this rule's SQL form
for the queries that group requests by rating (spend, the overview, the quality report).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from llmgate.store.feedback_ratings import BAD_LABELS, GOOD_LABELS, USER_SOURCES

__all__ = ["BAD_LABELS", "GOOD_LABELS", "Rating", "combined_rating", "is_user_source", "rating_of"]

Rating = Literal["good", "bad"]


def is_user_source(source: str) -> bool:
    """Is a score from this source users' feedback (not a monitor's nor an eval's)?"""
    return source.startswith(USER_SOURCES)


def rating_of(kind: str, value_num: float | None, value_label: str | None) -> Rating | None:
    """The rating one stored score gives its answer (see the module doc), ``None`` for none."""
    if kind == "bool" and value_num is not None:
        return "good" if value_num >= 0.5 else "bad"
    if kind == "label" and value_label is not None:
        label = value_label.strip().lower()
        return "good" if label in GOOD_LABELS else "bad" if label in BAD_LABELS else None
    if kind == "number" and value_num is not None:
        if 0.0 <= value_num <= 1.0:
            return "good" if value_num >= 0.5 else "bad"
        return "good" if value_num > 0 else "bad" if value_num < 0 else None
    return None


def combined_rating(ratings: Iterable[Rating | None]) -> Rating | None:
    """Several ratings of one answer as one: ``bad`` if any is, else ``good`` if any is."""
    given = {rating for rating in ratings if rating is not None}
    return "bad" if "bad" in given else "good" if "good" in given else None
