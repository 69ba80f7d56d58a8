"""The users' rating of a recorded request in SQL: ``reports/feedback_rating.py``'s rule, for queries.

The rule (which scores are users' feedback, which values rate an answer ``good`` or ``bad``, and
how several ratings combine) is written out in ``reports/feedback_rating.py``; its lists live
here, below every package that reads them, and that module imports them, so there is one list of
labels and sources. This module is the same rule as SQL, for the queries that group requests by
their rating (``store/spend.py``, ``store/traffic.py``, the quality report's samples):

- ``user_source``: the score's ``source`` is a user's (``key:<id>``, ``master``, ``anonymous``);
- ``score_rank``: one stored score's rating as a rank: 0 none, 1 ``good``, 2 ``bad``;
- ``request_rank``: the combined rating of a request, the highest rank of the users' scores on
  the request itself (``bad`` when any is bad, else ``good`` when any is good, else 0), as a
  correlated subquery (an index seek on ``ux_scores_target_name_source`` per request). Feedback on
  a session is not its calls' (as the monitor's feedback statistics count it);
- ``rating_label``: a rank as ``good``, ``bad`` or ``unrated`` (``RATINGS``, in that order);
- ``request_ratings``: the combined rating of each of some requests, read from the store.

Labels are compared trimmed of ASCII white space and lower-cased (ASCII on SQLite), where Python
strips any white space: the labels of the rule are ASCII words and emoji, so both agree on them
(``tests/store/test_feedback_ratings.py`` checks SQL against ``rating_of`` value by value).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.db import describe_error
from llmgate.store.models import table

__all__ = [
    "BAD_LABELS",
    "GOOD_LABELS",
    "RATINGS",
    "UNRATED",
    "USER_SOURCES",
    "rating_label",
    "request_rank",
    "request_ratings",
    "score_rank",
    "user_source",
]

GOOD_LABELS = frozenset({"up", "good", "positive", "yes", "correct", "like", "👍", "thumbs_up", "thumbs-up"})
BAD_LABELS = frozenset(
    {"down", "bad", "negative", "no", "incorrect", "wrong", "dislike", "👎", "thumbs_down", "thumbs-down"}
)
#: the prefixes of the sources whose scores are users' feedback (``server/feedback.py`` ``source_of``)
USER_SOURCES = ("key:", "master", "anonymous")
UNRATED = "unrated"
#: a request's rating groups, as the reports list them
RATINGS = ("good", "bad", UNRATED)
_BLANKS = " \t\n\r\x0b\x0c"
_CHUNK = 500  # request ids per IN (...) list


def user_source(source: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """SQL: ``source`` is a user's (``is_user_source``)."""
    return sa.or_(*(source.startswith(prefix, autoescape=True) for prefix in USER_SOURCES))


def score_rank(dialect: str, scores: sa.Table | Any) -> sa.ColumnElement[int]:
    """SQL: the rating of one ``scores`` row (``rating_of``) as 0 none, 1 good, 2 bad."""
    kind, number, label = scores.c.kind, scores.c.value_num, scores.c.value_label
    trim = sa.func.btrim if dialect == "postgresql" else sa.func.trim
    word = sa.func.lower(trim(label, _BLANKS))
    share = sa.case((number >= 0.5, 1), else_=2)
    rank: sa.ColumnElement[int] = sa.case(
        (sa.and_(kind == "bool", number.is_not(None)), share),
        (
            sa.and_(kind == "label", label.is_not(None)),
            sa.case((word.in_(sorted(GOOD_LABELS)), 1), (word.in_(sorted(BAD_LABELS)), 2), else_=0),
        ),
        (
            sa.and_(kind == "number", number.is_not(None)),
            sa.case((number.between(0.0, 1.0), share), (number > 0, 1), (number < 0, 2), else_=0),
        ),
        else_=0,
    )
    return rank


def request_rank(dialect: str, request_id: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    """SQL: the combined rating of the request whose id is ``request_id`` (``combined_rating``), a rank."""
    scores = table("scores")
    highest = (
        sa.select(sa.func.max(score_rank(dialect, scores)))
        .where(
            scores.c.target_kind == "request", scores.c.target_id == request_id, user_source(scores.c.source)
        )
        .correlate_except(scores)
        .scalar_subquery()
    )
    return sa.func.coalesce(highest, 0)


def rating_label(rank: sa.ColumnElement[int]) -> sa.ColumnElement[str]:
    """SQL: a rank as ``good``, ``bad`` or ``unrated``."""
    label: sa.ColumnElement[str] = sa.case((rank == 2, "bad"), (rank == 1, "good"), else_=UNRATED)
    return label


def request_ratings(engine: Engine, request_ids: Iterable[str]) -> dict[str, str]:
    """``good``, ``bad`` or ``unrated`` for each of ``request_ids`` (each once), from its users' scores."""
    scores = table("scores")
    ids = sorted(set(request_ids))
    rank = sa.func.max(score_rank(engine.dialect.name, scores))
    found: dict[str, str] = dict.fromkeys(ids, UNRATED)
    try:
        with engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                query = (
                    sa.select(scores.c.target_id, rank)
                    .where(
                        scores.c.target_kind == "request",
                        scores.c.target_id.in_(ids[start : start + _CHUNK]),
                        user_source(scores.c.source),
                    )
                    .group_by(scores.c.target_id)
                )
                for request_id, highest in conn.execute(query):
                    found[request_id] = "bad" if highest == 2 else "good" if highest == 1 else UNRATED
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc
    return found
