"""Stratified sampling: proportional by largest remainder, every stratum served, seeded and
deterministic, in the items' order."""

from __future__ import annotations

from collections import Counter

import pytest

from llmgate.datasets.sampling import allocate, stratified_sample


def items_of(sizes: dict[str, int]) -> list[tuple[str, int]]:
    """Items (stratum, n), the strata interleaved as traffic would be."""
    out = [(name, i) for name, size in sizes.items() for i in range(size)]
    return sorted(out, key=lambda item: (item[1], item[0]))


def stratum(item: tuple[str, int]) -> str:
    return item[0]


def test_allocation_is_proportional_by_largest_remainder() -> None:
    assert allocate([50, 30, 20], 10) == [5, 3, 2]
    assert allocate([60, 25, 15], 10) == [6, 3, 1]  # 6.0, 2.5, 1.5: the tie goes to the first seen
    assert allocate([1, 1, 1], 2) == [1, 1, 0]
    assert allocate([5, 5], 20) == [5, 5]
    assert allocate([5, 0, 5], 0) == [0, 0, 0]
    assert sum(allocate([7, 13, 29, 51], 17)) == 17


def test_every_stratum_gets_one_when_there_are_seats_for_all() -> None:
    seats = allocate([970, 20, 10], 10)  # 9.7, 0.2, 0.1: proportionally the small ones get nothing
    assert seats == [8, 1, 1]
    assert allocate([970, 0, 10], 10) == [9, 0, 1]  # an empty stratum gets nothing
    assert allocate([97, 2, 1], 2) == [2, 0, 0]  # fewer seats than strata: the largest first


def test_sample_proportions_order_and_membership() -> None:
    items = items_of({"gpt-4o": 600, "claude": 300, "llama": 90, "rare": 10})
    chosen = stratified_sample(items, 100, stratum, seed=7)
    assert len(chosen) == 100
    assert Counter(stratum(item) for item in chosen) == {"gpt-4o": 60, "claude": 30, "llama": 9, "rare": 1}
    assert chosen == [item for item in items if item in set(chosen)]  # the original order
    assert len(set(chosen)) == 100


def test_deterministic_and_seeded() -> None:
    items = items_of({"a": 500, "b": 500})
    first = stratified_sample(items, 50, stratum, seed=1)
    assert stratified_sample(items, 50, stratum, seed=1) == first
    assert stratified_sample(list(items), 50, stratum, seed=1) == first
    other = stratified_sample(items, 50, stratum, seed=2)
    assert other != first
    assert Counter(map(stratum, other)) == Counter(map(stratum, first)) == {"a": 25, "b": 25}


def test_random_within_a_stratum() -> None:
    items = items_of({"a": 1000})
    chosen = stratified_sample(items, 100, stratum, seed=3)
    positions = [n for _, n in chosen]
    # spread over the whole stratum, not its head
    assert min(positions) < 100 and max(positions) > 900


@pytest.mark.parametrize("n", [5, 6, 100])
def test_n_at_least_the_items_returns_all(n: int) -> None:
    items = items_of({"a": 3, "b": 2})
    assert stratified_sample(items, n, stratum) == items


def test_nothing_asked_nothing_given() -> None:
    assert stratified_sample(items_of({"a": 3}), 0, stratum) == []
    assert stratified_sample([], 3, stratum) == []
