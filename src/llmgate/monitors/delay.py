"""Detection delay: how long a monitor condition went unnoticed, computed and written in one place.

A condition starts at its first drifted record (``started_at``) and is raised by the evaluation
that opens it (``raised_at``); its detection delay is the time between the two. The alert (its
``detection_delay_s`` and its title), the worker's log line and ``drift status`` (the CLI, the
admin API and the dashboard) all take the number from ``detection_delay_s`` and its text from
``config/time_range.py``'s ``duration_text``, so they always say the same thing.
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["detection_delay_s"]


def detection_delay_s(started_at: datetime, raised_at: datetime) -> float:
    """Seconds from the first drifted record to the alert, to the millisecond (never negative)."""
    return round(max(0.0, (raised_at - started_at).total_seconds()), 3)
