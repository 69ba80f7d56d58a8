"""``llmgate.retention``: how long the store keeps what it records, and how often it prunes.

Each kind of data has its own age limit, written as ``--since`` writes a span (``90d``, ``13w``,
``12h``: ``config/time_range.parse_span``), or ``forever`` (the default: nothing is ever deleted,
and ``llmgate serve`` says so in one line at start):

- ``bodies``: the content of a request: its prompt (``request_json``), answer (``response_text``)
  and tool calls, a kept Responses API response, a monitor sample's prompt excerpt and passages.
  The request row itself (tokens, cost, latency, status, key, team) stays until ``requests``.
- ``requests``: the request rows (and kept responses) themselves.
- ``monitor_samples``: the live monitors' samples and statistics (a drift baseline's samples stay).
- ``eval_results``: eval runs and their cases (a baseline run stays).
- ``audit_log``: admin actions.
- ``scores``: scores and feedback on requests and sessions, by their last update.

Never pruned: datasets (their items are copies), keys, teams, users, alerts,
canaries. ``store/prune.py`` does the deleting, in batches of ``batch_size`` rows per transaction;
``interval`` is how often ``llmgate serve`` runs it (``server/retention_job.py``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from llmgate.config.schema_base import Strict
from llmgate.config.time_range import duration_text, parse_span

__all__ = ["FOREVER", "KINDS", "RetentionSettings"]

FOREVER = "forever"

#: the kinds of data a retention applies to, in the order prune handles them
KINDS = ("requests", "bodies", "monitor_samples", "eval_results", "audit_log", "scores")


def _age(value: Any) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, str) and value.strip().lower() == FOREVER:
        return None
    span = parse_span(str(value))
    if span <= timedelta(0):
        raise ValueError(f"must be longer than zero, got {value!r} (use {FOREVER} to keep everything)")
    return span


def _interval(value: Any) -> timedelta:
    span = _age(value)
    if span is None:
        raise ValueError("must be a duration such as 1h or 30m")
    if span < timedelta(minutes=1):
        raise ValueError(f"must be at least 1m, got {value!r}")
    return span


#: an age limit: a span, or None for forever
Age = Annotated[timedelta | None, BeforeValidator(_age)]


class RetentionSettings(Strict):
    """``llmgate.retention``; see the module docstring."""

    bodies: Age = None
    requests: Age = None
    monitor_samples: Age = None
    eval_results: Age = None
    audit_log: Age = None
    scores: Age = None
    interval: Annotated[timedelta, BeforeValidator(_interval)] = timedelta(hours=1)
    batch_size: int = Field(default=5000, ge=100, le=100_000)

    @model_validator(mode="after")
    def _bodies_within_rows(self) -> RetentionSettings:
        if self.bodies is not None and self.requests is not None and self.bodies > self.requests:
            raise ValueError(
                "bodies: cannot outlive the requests they belong to "
                f"(bodies {duration_text(self.bodies.total_seconds())}, "
                f"requests {duration_text(self.requests.total_seconds())})"
            )
        return self

    def ages(self) -> dict[str, timedelta | None]:
        """Every kind's age limit (None: kept forever), in ``KINDS`` order."""
        return {kind: getattr(self, kind) for kind in KINDS}

    @property
    def prunes(self) -> bool:
        """Whether anything is ever deleted."""
        return any(age is not None for age in self.ages().values())

    def start_line(self) -> str:
        """What ``serve`` says at start: what is kept forever, and for how long the rest."""
        ages = self.ages()
        forever = [kind for kind, age in ages.items() if age is None]
        kept = [f"{kind} {duration_text(age.total_seconds())}" for kind, age in ages.items() if age]
        if not kept:
            return "retention: everything is kept forever (" + ", ".join(forever) + "); see llmgate.retention"
        line = (
            "retention: " + ", ".join(kept) + f", pruned every {duration_text(self.interval.total_seconds())}"
        )
        return line + ("; kept forever: " + ", ".join(forever) if forever else "")
