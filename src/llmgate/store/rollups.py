"""Keeping the rollups (``store/rollup_tables.py``): the writer's upkeep, the day level's zone, and
rebuilding from raw rows.

- ``add_to_rollups(conn, rows)``: called by ``records.insert_records`` in the transaction that
  stores ``rows`` (only rows that were new there), so the rollups and the raw rows never disagree:
  one upsert (``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n``) per level, groups in
  primary-key order so two writers never deadlock.
- ``use_day_zone(engine, tz)``: ``llmgate serve`` names the zone its day level sums local days in.
  A new zone starts from its next local midnight at least an hour away (every writer has reread the
  level by then); days in the old zone are dropped. A store without records covers everything.
- ``rebuild_rollups(engine, since)``: sums the raw rows from ``since`` (its hour) again, under a lock that
  holds writers back until it commits, and moves both levels' coverage back to there.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from llmgate.store.columns import as_utc
from llmgate.store.models import requests_table
from llmgate.store.rollup_sql import upsert_ids, upsert_since
from llmgate.store.rollup_tables import (
    ROLLUP_COVERAGE,
    ROLLUP_DAYS,
    ROLLUP_HOURS,
    ROLLUP_TRAFFIC,
)

#: the start of time for a level that holds every record (a store that had none when it began)
EVERYTHING = datetime(1970, 1, 1, tzinfo=UTC)
#: how long a writer keeps the day level's zone before reading it again
_DAY_LEVEL_TTL_S = 60.0
#: a new zone's days start at a local midnight at least this far away (see ``use_day_zone``)
_ZONE_SWITCH_MARGIN = timedelta(hours=1)
#: per engine: until when its state as last read holds, whether it has the rollups, its day level
_STATES: WeakKeyDictionary[Engine, tuple[float, _Tables, DayLevel | None]] = WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class _Tables:
    """Which rollup tables the store has (a test store may stand at an older migration)."""

    rollups: bool  # 0016: rollup_hours, rollup_days, rollup_coverage
    traffic: bool  # 0018: rollup_traffic


@dataclass(frozen=True, slots=True)
class DayLevel:
    """Where the day level stands: its zone, and the first moment whose rows it holds."""

    time_zone: str
    covered_from: datetime


@dataclass(frozen=True, slots=True)
class Coverage:
    """From when each level holds every record (``None``: the day level is not kept)."""

    hours_from: datetime
    day_level: DayLevel | None


@dataclass(frozen=True, slots=True)
class RebuildResult:
    since: datetime
    rows: int
    hour_groups: int
    day_groups: int
    seconds: float


def add_to_rollups(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add ``rows`` (complete request rows, just stored in ``conn``'s transaction) to the rollups."""
    if rows:
        tables, level = _cached_state(conn)
        if tables.rollups:
            zone, day_from = (level.time_zone, level.covered_from) if level is not None else (None, None)
            moments = [as_utc(row["created_at"]) for row in rows]
            span = (min(moments), max(moments))
            upsert_ids(conn, [row["id"] for row in rows], span, zone, day_from, traffic=tables.traffic)


def read_coverage(conn: Connection) -> Coverage:
    """Where the levels stand (an install migrated before it had records covers everything)."""
    found = {row.level: row for row in conn.execute(sa.select(ROLLUP_COVERAGE))}
    hour, day = found.get("hour"), found.get("day")
    day_level = DayLevel(day.time_zone, day.covered_from) if day is not None and day.time_zone else None
    return Coverage(hour.covered_from if hour is not None else EVERYTHING, day_level)


def use_day_zone(engine: Engine, tz: str, now: datetime | None = None) -> DayLevel:
    """Make ``tz`` the day level's zone (nothing changes if it already is); returns the level."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        level = read_coverage(conn).day_level
        if level is not None and level.time_zone == tz:
            return level
        requests = requests_table()
        empty = conn.execute(sa.select(requests.c.id).limit(1)).first() is None
        start = EVERYTHING if empty else next_midnight(tz, now + _ZONE_SWITCH_MARGIN)
        conn.execute(sa.delete(ROLLUP_DAYS))
        _set_coverage(conn, "day", tz, start)
    _STATES.clear()
    return DayLevel(tz, start)


def rebuild_rollups(engine: Engine, since: datetime) -> RebuildResult:
    """Sum the raw rows from ``since``'s hour on into both levels again."""
    began = time.perf_counter()
    start = floor_hour(since)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # writers wait at their upsert until this commits
            conn.exec_driver_sql("LOCK TABLE rollup_hours, rollup_days IN SHARE ROW EXCLUSIVE MODE")
        coverage = read_coverage(conn)
        traffic = sa.inspect(conn).has_table(ROLLUP_TRAFFIC.name)
        conn.execute(sa.delete(ROLLUP_HOURS).where(ROLLUP_HOURS.c.hour >= start))
        if traffic:
            conn.execute(sa.delete(ROLLUP_TRAFFIC).where(ROLLUP_TRAFFIC.c.hour >= start))
        zone = day_start = None
        if coverage.day_level is not None:
            zone = coverage.day_level.time_zone
            day_start = next_midnight(zone, start)
            first_day = day_start.astimezone(ZoneInfo(zone)).date()
            conn.execute(sa.delete(ROLLUP_DAYS).where(ROLLUP_DAYS.c.day >= first_day))
        rows = upsert_since(conn, start, zone, day_start, traffic=traffic)
        hour_groups = conn.execute(
            sa.select(sa.func.count()).where(ROLLUP_HOURS.c.hour >= start)
        ).scalar_one()
        day_groups = 0
        if coverage.day_level is not None and zone is not None and day_start is not None:
            day_groups = conn.execute(
                sa.select(sa.func.count()).where(ROLLUP_DAYS.c.day >= first_day)
            ).scalar_one()
            _set_coverage(conn, "day", zone, min(coverage.day_level.covered_from, day_start))
        _set_coverage(conn, "hour", None, min(coverage.hours_from, start))
    _STATES.clear()
    return RebuildResult(start, rows, hour_groups, day_groups, time.perf_counter() - began)


def floor_hour(moment: datetime) -> datetime:
    """The UTC hour ``moment`` is in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    """The first UTC hour that starts at or after ``moment``."""
    floor = floor_hour(moment)
    return floor if floor == moment else floor + timedelta(hours=1)


def next_midnight(tz: str, moment: datetime) -> datetime:
    """The first local midnight of ``tz`` at or after ``moment``, in UTC."""
    zone = ZoneInfo(tz)
    local = moment.astimezone(zone)
    day = local.date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    if midnight.astimezone(UTC) < moment:
        following = day + timedelta(days=1)
        midnight = datetime(following.year, following.month, following.day, tzinfo=zone)
    return midnight.astimezone(UTC)


# --- internals ------------------------------------------------------------------------------


def _cached_state(conn: Connection) -> tuple[_Tables, DayLevel | None]:
    """Whether this engine's store has the rollups (a store migrated only up to 0015 has not:
    its rows are stored without them), and its day level, as last read (again after
    ``_DAY_LEVEL_TTL_S``)."""
    now = time.monotonic()
    found = _STATES.get(conn.engine)
    if found is not None and found[0] > now:
        return found[1], found[2]
    inspector = sa.inspect(conn)
    tables = _Tables(inspector.has_table(ROLLUP_COVERAGE.name), inspector.has_table(ROLLUP_TRAFFIC.name))
    level = read_coverage(conn).day_level if tables.rollups else None
    _STATES[conn.engine] = (now + _DAY_LEVEL_TTL_S, tables, level)
    return tables, level


def _set_coverage(conn: Connection, level: str, tz: str | None, covered_from: datetime) -> None:
    conn.execute(sa.delete(ROLLUP_COVERAGE).where(ROLLUP_COVERAGE.c.level == level))
    conn.execute(sa.insert(ROLLUP_COVERAGE).values(level=level, time_zone=tz, covered_from=covered_from))
