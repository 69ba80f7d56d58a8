"""Request rows summed into the rollups' groups, in Python: the one place a row's group and sums
are worked out, for the writer's upkeep and for a rebuild alike (``store/rollups.py``).

A row's hour is its UTC hour; its day, the local date in the day level's zone (from the day level's
``covered_from`` on). Its outcome follows ``store.spend.outcome_index`` (0 succeeded: status
``success``; 2 rejected: a 4xx with no provider; 1 failed: anything else), its status class is the
code's hundreds. Costs are rounded as the ``Money`` columns round each stored value, so a sum here
is the sum of the stored costs, to the last of the 10 places. A missing cost or count adds 0.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from hashlib import blake2b
from typing import Any
from zoneinfo import ZoneInfo

from llmgate.store.columns import money_value
from llmgate.store.rollup_tables import DAY_DIMENSIONS, HOUR_DIMENSIONS, LATENCY_BOUNDS_MS, SUMS

#: the request columns a rollup reads (a rebuild selects just these)
SOURCE_COLUMNS = (
    "created_at",
    "team_id",
    "key_id",
    "user",
    "model",
    "deployment",
    "provider",
    "endpoint",
    "status",
    "status_code",
    "tags_json",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_usd",
    "saved_usd",
    "cache_hit",
    "latency_ms",
    "ttft_ms",
)
_FIRST_BUCKET = SUMS.index("lat_00")
_DAY_PICK = tuple(HOUR_DIMENSIONS.index(d) for d in DAY_DIMENSIONS)


@dataclass(frozen=True, slots=True)
class DayLevel:
    """Where the day level stands: its zone, and the first moment whose rows it holds."""

    time_zone: str
    covered_from: datetime


@dataclass(slots=True)
class Groups:
    """Sums per hour and group, and per local day and group (``None`` keys: no day level)."""

    hours: dict[tuple[datetime, tuple[Any, ...]], list[Any]] = field(default_factory=dict)
    days: dict[tuple[date, tuple[Any, ...]], list[Any]] = field(default_factory=dict)

    def hour_rows(self) -> list[dict[str, Any]]:
        """The hour groups as ``rollup_hours`` rows, in primary-key order (writers that update the
        same rows lock them in one order, so two of them never deadlock)."""
        rows = [
            _row({"hour": hour}, HOUR_DIMENSIONS, dims, sums) for (hour, dims), sums in self.hours.items()
        ]
        rows.sort(key=lambda row: (row["hour"], row["grain"]))
        return rows

    def day_rows(self, time_zone: str) -> list[dict[str, Any]]:
        """The day groups as ``rollup_days`` rows of ``time_zone``, in primary-key order."""
        rows = [
            _row({"time_zone": time_zone, "day": day}, DAY_DIMENSIONS, dims, sums)
            for (day, dims), sums in self.days.items()
        ]
        rows.sort(key=lambda row: (row["day"], row["grain"]))
        return rows


def grain(dimensions: tuple[Any, ...]) -> str:
    """The group's name: a 128-bit hash of its values (``None`` and ``""`` differ)."""
    return blake2b(repr(dimensions).encode(), digest_size=16).hexdigest()


def latency_bucket(latency_ms: float) -> int:
    """The histogram bucket of a latency: the first whose upper bound it does not pass."""
    return bisect_left(LATENCY_BOUNDS_MS, latency_ms)


def outcome_of(status: str | None, status_code: int | None, provider: str | None) -> int:
    """0 succeeded, 1 failed, 2 rejected: ``store.spend.outcome_index``'s rule, in Python."""
    if status == "success":
        return 0
    if provider is None and status_code is not None and 400 <= status_code < 500:
        return 2
    return 1


def group_rows(rows: Iterable[Mapping[Any, Any]], day_level: DayLevel | None) -> Groups:
    """Sum ``rows`` (with at least ``SOURCE_COLUMNS``) into hour groups and, from the day level's
    ``covered_from`` on, day groups."""
    groups = Groups()
    hours, days = groups.hours, groups.days
    zone = ZoneInfo(day_level.time_zone) if day_level is not None else None
    day_from = day_level.covered_from if day_level is not None else None
    width = len(SUMS)
    for row in rows:
        created = _utc(row["created_at"])
        status_code = row["status_code"]
        provider = row["provider"]
        dims = (
            row["team_id"],
            row["key_id"],
            row["user"],
            row["model"],
            row["deployment"],
            provider,
            row["endpoint"],
            outcome_of(row["status"], status_code, provider),
            status_code // 100 if status_code is not None else 0,
            row["tags_json"],
        )
        cost = row["cost_usd"]
        saved = row["saved_usd"]
        latency = row["latency_ms"] or 0.0
        ttft = row["ttft_ms"]
        values = (
            1,
            row["prompt_tokens"] or 0,
            row["completion_tokens"] or 0,
            row["cached_tokens"] or 0,
            row["reasoning_tokens"] or 0,
            money_value(cost) if cost is not None else Decimal(0),
            money_value(saved) if saved is not None else Decimal(0),
            1 if row["cache_hit"] else 0,
            float(latency),
            float(ttft) if ttft is not None else 0.0,
            1 if ttft is not None else 0,
        )
        bucket = _FIRST_BUCKET + latency_bucket(latency)
        hour_key = (created.replace(minute=0, second=0, microsecond=0), dims)
        _add(hours, hour_key, values, bucket, width)
        if zone is not None and day_from is not None and created >= day_from:
            day_key = (created.astimezone(zone).date(), tuple(dims[i] for i in _DAY_PICK))
            _add(days, day_key, values, bucket, width)
    return groups


def _add(into: dict[Any, list[Any]], key: Any, values: tuple[Any, ...], bucket: int, width: int) -> None:
    sums = into.get(key)
    if sums is None:
        sums = into[key] = [0] * width
        sums[5] = sums[6] = Decimal(0)
        sums[8] = sums[9] = 0.0
    for index, value in enumerate(values):
        sums[index] += value
    sums[bucket] += 1


def _row(
    head: dict[str, Any], names: tuple[str, ...], dims: tuple[Any, ...], sums: list[Any]
) -> dict[str, Any]:
    row = dict(head)
    row["grain"] = grain(dims)
    row.update(zip(names, dims, strict=True))
    row.update(zip(SUMS, sums, strict=True))
    return row


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
