"""How llmgate reads a time given as text: ``--since`` / ``--until`` on every CLI command, and the
``since`` / ``until`` parameters of the admin API and the dashboard. One rule, one place:

- ``30s``, ``15m``, ``2h``, ``7d``, ``4w``: that long before now.
- ``2026-11-01``: midnight at the start of that day in ``llmgate.time_zone`` (UTC when unset).
- ``2026-11-01T09:00``: that wall-clock time in ``llmgate.time_zone``; a time a DST change skips or
  repeats is read as Python reads it (``fold=0``: the offset in force before the change).
- ``2026-11-01T09:00+05:30``, ``2026-11-01T09:00Z``: as given.

A range is ``[since, until)``: ``until`` is exclusive and must be later than ``since``. Every
bound lies in ``EARLIEST`` .. ``LATEST``, what every store and every calendar sum can hold.

A bad value is an ``InvalidRequest`` naming the parameter (``since``, ``until``, ...) whose message
starts ``"<param>: "``: the API answers it 400 ``invalid_request_error`` with that ``param``, the
CLI prints it as one line with the option as typed (``--since: ...``) and exits 2. Parsed bounds
are aware datetimes in UTC. ``duration_text`` is the one way a duration is said to people.
Imports only the standard library and ``llmgate.errors``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from llmgate.errors import InvalidRequest

#: the range a time parameter may name: what every store and every calendar sum can hold
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
EXAMPLES = "30m, 2h, 7d, 2026-11-01, 2026-11-01T09:00 or 2026-11-01T09:00+01:00"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(
    value: str, tz: str = "UTC", *, param: str = "since", now: datetime | None = None
) -> datetime:
    """``value`` as an instant in UTC, read in the zone ``tz``; see the module docstring."""
    text = value.strip()
    try:
        if _DATE.match(text):
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise InvalidRequest(f"{param}: not a valid date: {value[:64]!r}", param=param) from None
            return check_moment(local_midnight(day, tz), param, value)
        relative = _RELATIVE.match(text)
        if relative:
            span = timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
            return check_moment((now or datetime.now(UTC)) - span, param, value)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidRequest(
                f"{param}: expected e.g. {EXAMPLES}, got {value[:64]!r}", param=param
            ) from None
        return check_moment(
            moment.replace(tzinfo=ZoneInfo(tz)) if moment.tzinfo is None else moment, param, value
        )
    except (OverflowError, ValueError):  # a span or a date past what datetime holds
        raise _out_of_range(param, value) from None


def parse_range(
    since: str | None,
    until: str | None,
    tz: str = "UTC",
    *,
    now: datetime | None = None,
    default_since: datetime | None = None,
    default_until: datetime | None = None,
    since_required: bool = False,
) -> tuple[datetime | None, datetime | None]:
    """``[since, until)`` in UTC (a missing bound is its default); ``until`` must follow ``since``.
    ``since_required``: a missing or empty ``since`` is an error, not an open start."""
    now = now or datetime.now(UTC)
    if since_required and not since:
        raise InvalidRequest(f"since: required ({EXAMPLES})", param="since")
    start = parse_moment(since, tz, param="since", now=now) if since else default_since
    end = parse_moment(until, tz, param="until", now=now) if until else default_until
    if start is not None and end is not None and end <= start:
        raise InvalidRequest("until: must be later than since", param="until")
    return start, end


def check_moment(moment: datetime, param: str, value: object) -> datetime:
    """``moment`` in UTC (UTC if naive) if it lies in ``[EARLIEST, LATEST)``, else an ``InvalidRequest``."""
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise _out_of_range(param, value) from None
    if not EARLIEST <= moment < LATEST:
        raise _out_of_range(param, value)
    return moment


def _out_of_range(param: str, value: object) -> InvalidRequest:
    shown = value if isinstance(value, str) else str(value)
    return InvalidRequest(
        f"{param}: {shown[:64]!r} is out of range: use a time from {EARLIEST:%Y-%m-%d} to before "
        f"{LATEST:%Y-%m-%d}",
        param=param,
    )


def local_midnight(day: date, tz: str) -> datetime:
    """The UTC instant at which ``day`` begins in ``tz``."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def parse_span(value: str) -> timedelta:
    """A length of time written as ``--since`` writes one (``30s``, ``15m``, ``2h``, ``7d``, ``4w``);
    a ``ValueError`` saying what was expected otherwise (config keys such as ``llmgate.retention``)."""
    relative = _RELATIVE.match(str(value).strip())
    if not relative:
        raise ValueError(f"expected a duration such as 30m, 12h, 90d or 13w, got {str(value)[:64]!r}")
    try:
        return timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    except OverflowError:
        raise ValueError(f"{str(value)[:64]!r} is too long a duration") from None


def duration_text(seconds: float | None) -> str:
    """A duration for people: ``20.4 s`` under a minute, ``4 min 12 s`` under an hour, ``2 h 5 min``
    under a day, then ``3 d 4 h``; ``-`` when there is none. Every report and alert says durations so."""
    if seconds is None:
        return "-"
    if seconds < 59.95:
        return f"{max(0.0, seconds):.1f} s"
    whole = round(seconds)
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    minutes = round(seconds / 60)
    if minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, rest = divmod(round(seconds / 3600), 24)
    return f"{days} d {rest} h" if rest else f"{days} d"
