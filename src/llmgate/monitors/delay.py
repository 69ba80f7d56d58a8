"""Detection delay: how long a monitor condition went unnoticed, computed and written in one place.

A condition starts at its first drifted record (``started_at``) and is raised by the evaluation
that opens it (``raised_at``); its detection delay is the time between the two. The alert (its
``detection_delay_s`` and its title), the worker's log line and ``drift status`` (the CLI, the
admin API and the dashboard) all take the number from ``detection_delay_s`` and its text from
``seconds_text``, so they always say the same thing.

Pure functions of two times: nothing is imported from the rest of llmgate.
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["detection_delay_s", "seconds_text"]


def detection_delay_s(started_at: datetime, raised_at: datetime) -> float:
    """Seconds from the first drifted record to the alert, to the millisecond (never negative)."""
    return round(max(0.0, (raised_at - started_at).total_seconds()), 3)


def seconds_text(seconds: float | None) -> str:
    """A duration for people: ``20.4 s`` under a minute, ``4 min 12 s`` under an hour, then
    ``2 h 5 min``; ``-`` when there is none."""
    if seconds is None:
        return "-"
    if seconds < 59.95:
        return f"{max(0.0, seconds):.1f} s"
    whole = round(seconds)
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
