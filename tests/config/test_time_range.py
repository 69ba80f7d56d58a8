"""``config.time_range``: how every ``--since`` / ``--until`` and every ``since`` / ``until`` is read."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from llmgate.config.time_range import local_midnight, parse_moment, parse_range
from llmgate.errors import InvalidRequest

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_a_bare_date_is_midnight_in_the_zone() -> None:
    assert parse_moment("2026-11-01", "America/New_York") == datetime(2026, 11, 1, 4, tzinfo=UTC)
    assert parse_moment("2026-11-02", "America/New_York") == datetime(2026, 11, 2, 5, tzinfo=UTC)
    assert parse_moment("2026-11-01", "Asia/Kolkata") == datetime(2026, 10, 31, 18, 30, tzinfo=UTC)
    assert parse_moment("2026-11-01", "Asia/Tokyo") == datetime(2026, 10, 31, 15, tzinfo=UTC)
    assert parse_moment(" 2026-11-01 ", "UTC") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_moment("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)  # no zone configured: UTC


def test_a_datetime_without_an_offset_is_wall_clock_time_in_the_zone() -> None:
    assert parse_moment("2026-11-01T09:00", "Asia/Kolkata") == datetime(2026, 11, 1, 3, 30, tzinfo=UTC)
    assert parse_moment("2026-11-01 09:00", "Asia/Tokyo") == datetime(2026, 11, 1, 0, tzinfo=UTC)
    assert parse_moment("2026-11-01T00:00", "America/New_York") == parse_moment(
        "2026-11-01", "America/New_York"
    )


def test_a_datetime_with_an_offset_is_as_given() -> None:
    assert parse_moment("2026-11-01T09:00+05:30", "America/New_York") == datetime(
        2026, 11, 1, 3, 30, tzinfo=UTC
    )
    assert parse_moment("2026-11-01T09:00Z", "Asia/Tokyo") == datetime(2026, 11, 1, 9, tzinfo=UTC)
    assert parse_moment("2026-11-01T09:00:00-04:00", "UTC") == datetime(2026, 11, 1, 13, tzinfo=UTC)


def test_daylight_saving_edges() -> None:
    ny = "America/New_York"
    # 2026-03-08: clocks go from 02:00 to 03:00 (EST to EDT); the day is 23 hours long
    assert parse_moment("2026-03-08", ny) == datetime(2026, 3, 8, 5, tzinfo=UTC)
    assert parse_moment("2026-03-09", ny) == datetime(2026, 3, 9, 4, tzinfo=UTC)
    assert parse_moment("2026-03-08T03:00", ny) == datetime(2026, 3, 8, 7, tzinfo=UTC)
    # 2026-11-01: 01:00-02:00 happens twice; the first (EDT, fold=0) is meant; the day is 25 hours
    assert parse_moment("2026-11-01T01:30", ny) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert parse_moment("2026-11-01T03:00", ny) == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert parse_moment("2026-11-02", ny) - parse_moment("2026-11-01", ny) == datetime(
        2026, 1, 2, 1, tzinfo=UTC
    ) - datetime(2026, 1, 1, tzinfo=UTC)
    # a zone whose midnight itself is skipped: 2011-12-30 never began in Samoa
    assert local_midnight(date(2011, 12, 31), "Pacific/Apia") == datetime(2011, 12, 30, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("2h", 7200), ("7d", 7 * 86400), ("4w", 28 * 86400), (" 2 h ", 7200)],
)
def test_relative_spans_count_back_from_now(text: str, seconds: int) -> None:
    for tz in ("UTC", "Asia/Tokyo"):  # the zone does not move a span
        assert (NOW - parse_moment(text, tz, now=NOW)).total_seconds() == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "yesterday",
            "until: expected e.g. 30m, 2h, 7d, 2026-11-01, 2026-11-01T09:00 or 2026-11-01T09:00+01:00",
        ),
        ("", "until: expected e.g."),
        ("7y", "until: expected e.g."),
        ("-2h", "until: expected e.g."),
        ("2026-02-30", "until: not a valid date: '2026-02-30'"),
        ("99999999d", "until: '99999999d' is out of range: use a time from 1970-01-01 to before 9000-01-01"),
        ("1969-12-31", "until: '1969-12-31' is out of range"),
        ("9999-12-31T23:59-23:59", "is out of range"),
        ("0001-01-01T00:00", "is out of range"),
    ],
)
def test_a_bad_value_names_the_parameter(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_moment(text, "Asia/Tokyo", param="until", now=NOW)
    assert caught.value.param == "until"
    assert message in caught.value.message
    assert caught.value.message.startswith("until: ")


def test_a_range_is_until_exclusive_after_since() -> None:
    assert parse_range(None, None, "UTC") == (None, None)
    default = datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_range(None, "1h", "UTC", now=NOW, default_since=default) == (
        default,
        datetime(2026, 11, 20, 11, tzinfo=UTC),
    )
    assert parse_range("2026-11-01", "2026-11-02", "Asia/Tokyo") == (
        datetime(2026, 10, 31, 15, tzinfo=UTC),
        datetime(2026, 11, 1, 15, tzinfo=UTC),
    )
    for since, until in (("2026-11-02", "2026-11-01"), ("2026-11-01", "2026-11-01"), ("1h", "2h")):
        with pytest.raises(InvalidRequest) as caught:
            parse_range(since, until, "UTC", now=NOW)
        assert (caught.value.param, caught.value.message) == ("until", "until: must be later than since")
