"""Request ids (``telemetry/call_ids.py``): clustered by second for the store's index, random at the end."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from llmgate.telemetry import call_ids
from llmgate.telemetry.call_ids import new_call_id, random_fraction


def test_an_id_is_32_hex_digits_and_ids_do_not_repeat() -> None:
    ids = [new_call_id() for _ in range(20_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_ids_of_one_second_share_their_first_digits_and_differ_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_ids.time, "time", lambda: 1_796_640_000.25)
    same_second = [new_call_id() for _ in range(500)]  # a batch of the record writer's
    assert {i[:3] for i in same_second} == {f"{1_796_640_000 % 4096:03x}"}
    assert len({i[3:8] for i in same_second}) == 500  # the random part follows at once


def test_over_the_cycle_first_digits_spread_as_random_ones_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """A short prefix (``llmgate logs``) stays about as unique as with random ids: across 68
    minutes every value of the first digit comes equally often."""
    start = time.time()
    seconds = iter(range(4096 * 4))
    monkeypatch.setattr(call_ids.time, "time", lambda: start + next(seconds))
    first = Counter(new_call_id()[0] for _ in range(4096 * 4))
    assert set(first) == set("0123456789abcdef")
    assert set(first.values()) == {4096 * 4 // 16}


def test_the_random_fraction_comes_from_the_random_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_ids.time, "time", lambda: 1_796_640_000.0)
    drawn = [random_fraction(new_call_id()) for _ in range(4_000)]  # all made in one second
    assert all(0 <= x < 1 for x in drawn)
    assert 0.22 < sum(x < 0.25 for x in drawn) / len(drawn) < 0.28
    assert random_fraction("0" * 24 + "80000000") == 0.5
    with pytest.raises(ValueError):
        random_fraction("not-hex!")
    with pytest.raises(ValueError):
        random_fraction("abc")
