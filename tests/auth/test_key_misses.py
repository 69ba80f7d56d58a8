"""``MissGate``: how often the store is asked about keys the gateway's copy lacks (a clock is passed in)."""

from __future__ import annotations

from llmgate.auth.key_misses import MissGate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    gate = MissGate(rate_per_s=10, burst=8, clock=clock)
    assert [gate.admit(f"h{i}") for i in range(10)] == [True] * 8 + [False] * 2
    clock.now += 0.5  # five more lookups earned
    assert sum(gate.admit(f"x{i}") for i in range(20)) == 5
    clock.now += 60  # never more than the burst at once, however long it was quiet
    assert sum(gate.admit(f"y{i}") for i in range(20)) == 8


def test_an_unknown_key_is_not_asked_about_again_for_a_while() -> None:
    clock = Clock()
    gate = MissGate(rate_per_s=100, burst=100, forget_after_s=2, clock=clock)
    assert gate.admit("wrong")
    gate.unknown("wrong")
    assert not any(gate.admit("wrong") for _ in range(50))  # the same wrong key, again and again
    assert gate.admit("other")
    clock.now += 2.5
    assert gate.admit("wrong")


def test_forget_lets_a_key_unknown_a_moment_ago_be_asked_about() -> None:
    """The registry calls ``forget`` when the keys change: the key may have been made since."""
    gate = MissGate(clock=Clock())
    gate.unknown("soon-made")
    assert not gate.admit("soon-made")
    gate.forget()
    assert gate.admit("soon-made")


def test_remembered_keys_are_bounded() -> None:
    clock = Clock()
    gate = MissGate(rate_per_s=1, burst=1, forget_after_s=10, clock=clock)
    for i in range(30_000):
        gate.unknown(f"h{i}")
    assert len(gate._unknown) <= 10_000
