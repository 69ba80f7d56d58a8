"""Stratified sampling: ``n`` of a list of items, each stratum (a model's day) in proportion.

``stratified_sample(items, n, stratum, seed)``:

- ``n`` at least ``len(items)``: every item; ``n`` of 0 or less: none.
- Allocation: each stratum's share of ``n`` is proportional to its size, rounded down, and the
  seats left go to the largest remainders (ties to the stratum seen first). When ``n`` is at least
  the number of strata every stratum gets at least one item (the seat is taken from the stratum
  with the most to spare), so a rare model or a quiet day is never sampled away; with fewer seats
  than strata, the largest strata are served first.
- Within a stratum the items are drawn at random with ``random.Random(seed)``: the same items,
  stratum function and seed always give the same sample (Python's ``random`` is stable across
  versions for ``sample``), another seed another one.
- The result keeps the items' original order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

__all__ = ["allocate", "stratified_sample"]

T = TypeVar("T")


def allocate(sizes: Sequence[int], n: int) -> list[int]:
    """Seats per stratum: proportional to ``sizes`` by largest remainder, at least one each when
    ``n`` allows it, never more than a stratum holds; they sum to ``min(n, sum(sizes))``."""
    total = sum(sizes)
    if n <= 0 or total == 0:
        return [0] * len(sizes)
    if n >= total:
        return list(sizes)
    exact = [n * size / total for size in sizes]
    seats = [int(share) for share in exact]
    left = n - sum(seats)
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - seats[i]), i))
    for i in by_remainder[:left]:
        seats[i] += 1
    nonempty = [i for i, size in enumerate(sizes) if size > 0]
    if n >= len(nonempty):
        for i in nonempty:
            if seats[i] == 0:  # take the seat from the stratum with the most to spare
                donor = max(
                    (j for j in nonempty if seats[j] > 1), key=lambda j: (seats[j] - exact[j], seats[j])
                )
                seats[donor] -= 1
                seats[i] = 1
    return seats


def stratified_sample(items: Sequence[T], n: int, stratum: Callable[[T], Hashable], seed: int = 0) -> list[T]:
    """``n`` of ``items``, stratified by ``stratum`` (see the module doc), in their original order."""
    if n >= len(items):
        return list(items)
    if n <= 0:
        return []
    groups: dict[Hashable, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(stratum(item), []).append(index)
    members = list(groups.values())
    seats = allocate([len(group) for group in members], n)
    rng = random.Random(seed)
    chosen: list[int] = []
    for group, count in zip(members, seats, strict=True):
        chosen.extend(rng.sample(group, count) if count < len(group) else group)
    return [items[index] for index in sorted(chosen)]
