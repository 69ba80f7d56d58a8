"""Output drift on synthetic windows: numeric features drawn with numpy, changed one at a time."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from llmgate.monitors.output_drift import OutputSample, OutputThresholds, output_drift  # noqa: E402
from llmgate.quality.text import is_refusal  # noqa: E402

NAMES = (
    "response_length",
    "refusal_rate",
    "finish_reasons",
    "tool_call_rate",
    "error_rate",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
)
REASONS = ("stop", "length", "tool_calls", "content_filter")


def window(
    n: int,
    seed: int,
    *,
    refusal: float = 0.02,
    length_scale: float = 1.0,
    finish: tuple[float, ...] = (0.9, 0.07, 0.025, 0.005),
    tool_call: float = 0.1,
    error: float = 0.01,
    latency_scale: float = 1.0,
) -> list[OutputSample]:
    """``n`` calls: lognormal lengths and latency, Poisson-ish token counts, Bernoulli flags."""
    rng = np.random.default_rng(seed)
    chars = rng.lognormal(np.log(600), 0.8, n) * length_scale
    latency = rng.lognormal(np.log(900), 0.5, n) * latency_scale
    prompt = rng.lognormal(np.log(300), 0.7, n)
    reasons = rng.choice(len(REASONS), size=n, p=np.asarray(finish) / sum(finish))
    errors = rng.random(n) < error
    return [
        OutputSample(
            response_chars=None if errors[i] else int(chars[i]),
            refused=bool(not errors[i] and rng.random() < refusal),
            finish_reason=None if errors[i] else REASONS[reasons[i]],
            tool_call=bool(not errors[i] and rng.random() < tool_call),
            error=bool(errors[i]),
            latency_ms=float(latency[i]),
            prompt_tokens=int(prompt[i]),
            completion_tokens=None if errors[i] else max(1, int(chars[i] / 4)),
        )
        for i in range(n)
    ]


def by_name(statistics: tuple[Any, ...]) -> dict[str, Any]:
    return {s.name: s for s in statistics}


def test_no_change_flags_nothing_over_twenty_seeds() -> None:
    flagged = []
    for seed in range(20):
        stats = output_drift(window(300, 2 * seed), window(300, 2 * seed + 1))
        assert [s.name for s in stats] == list(NAMES)
        flagged += [(seed, s.name, s.p_value) for s in stats if s.drifted]
    assert not flagged


def test_refusals_going_from_two_to_twenty_percent() -> None:
    stats = by_name(output_drift(window(300, 1), window(300, 2, refusal=0.2)))
    refusal = stats["refusal_rate"]
    assert refusal.drifted and refusal.value > 0.12 and refusal.p_value < 1e-6
    assert refusal.details["current_rate"] > refusal.details["reference_rate"]
    assert not any(s.drifted for name, s in stats.items() if name != "refusal_rate")


def test_answers_twice_as_long() -> None:
    stats = by_name(output_drift(window(300, 3), window(300, 4, length_scale=2.0)))
    length = stats["response_length"]
    assert length.drifted and length.value >= 0.25
    assert length.details["median_change"] == pytest.approx(1.0, abs=0.3)
    assert stats["completion_tokens"].drifted  # they follow the characters
    assert not stats["latency_ms"].drifted and not stats["refusal_rate"].drifted


def test_finish_reasons_moving_from_stop_to_length() -> None:
    stats = by_name(output_drift(window(300, 5), window(300, 6, finish=(0.7, 0.27, 0.025, 0.005))))
    finish = stats["finish_reasons"]
    assert finish.drifted and finish.value == pytest.approx(0.2, abs=0.07)
    assert finish.details["current_shares"]["length"] > finish.details["reference_shares"]["length"]


def test_a_one_percent_change_on_five_thousand_calls_is_not_drift() -> None:
    reference = window(5000, 7)
    current = window(5000, 8, refusal=0.03, error=0.02, tool_call=0.11, length_scale=1.01, latency_scale=1.01)
    assert not any(s.drifted for s in output_drift(reference, current))


def test_the_minimum_effect_is_what_keeps_a_significant_small_change_quiet() -> None:
    reference, current = window(20000, 9), window(20000, 10, error=0.03, length_scale=1.1)
    stats = by_name(output_drift(reference, current))
    for name in ("error_rate", "response_length"):
        assert stats[name].p_value < 1e-6 and not stats[name].drifted, stats[name]
    strict = by_name(output_drift(reference, current, OutputThresholds(min_effect=0.01, min_ks=0.02)))
    assert strict["error_rate"].drifted and strict["response_length"].drifted
    one = by_name(output_drift(reference, current, OutputThresholds.from_mapping({"error_rate": 0.01})))
    assert one["error_rate"].drifted and one["error_rate"].threshold == 0.01
    assert not one["response_length"].drifted


def test_a_statistic_without_data_on_one_side_is_left_out() -> None:
    reference = [replace(s, latency_ms=None, finish_reason=None) for s in window(100, 11)]
    names = [s.name for s in output_drift(reference, window(100, 12))]
    assert "latency_ms" not in names and "finish_reasons" not in names
    assert "response_length" in names
    assert output_drift([], window(50, 13)) == ()


def test_a_single_finish_reason_everywhere_is_no_drift() -> None:
    stats = by_name(output_drift(window(80, 14, finish=(1, 0, 0, 0)), window(80, 15, finish=(1, 0, 0, 0))))
    assert stats["finish_reasons"].value == 0.0 and stats["finish_reasons"].p_value == 1.0


def test_statistics_are_plain_json() -> None:
    stats = output_drift(window(200, 16), window(200, 17, refusal=0.3))
    text = json.dumps([s.to_json() for s in stats], allow_nan=False)
    assert json.loads(text)[1]["name"] == "refusal_rate"


def test_thresholds_reject_unknown_keys_and_bad_values() -> None:
    assert OutputThresholds.from_mapping({}) == OutputThresholds()
    with pytest.raises(ValueError, match="unknown output threshold"):
        OutputThresholds.from_mapping({"refusals": 0.1})
    with pytest.raises(ValueError, match="p_value"):
        OutputThresholds(p_value=2.0)
    assert OutputThresholds().minimum("latency_ms") == OutputThresholds().min_ks
    assert OutputThresholds().minimum("tool_call_rate") == OutputThresholds().min_effect


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("I'm sorry, but I can't help with that request.", True),
        ("I don't know.", True),
        ("There is no information provided about the film's budget.", True),
        ("I can't draw charts. However, here is a table of the figures: 1, 2, 3.", False),
        ("Paris is the capital of France.", False),
        ("", False),
    ],
)
def test_refusals_are_recognised(text: str, refused: bool) -> None:
    assert is_refusal(text) is refused


def test_latency_must_move_by_a_material_amount_of_milliseconds() -> None:
    # A gateway on loopback: ~3 ms becoming ~5 ms is a clear KS shift but not worth an alert.
    fast = [replace(s, latency_ms=(s.latency_ms or 0) / 300) for s in window(300, 1)]
    slower = [replace(s, latency_ms=(s.latency_ms or 0) / 180) for s in window(300, 2)]
    quiet = by_name(output_drift(fast, slower))["latency_ms"]
    assert quiet.p_value < 0.001 and quiet.value >= 0.1 and not quiet.drifted
    assert quiet.details["below_min_latency_ms"] < 100
    # A real model: 900 ms becoming 1.5 s is drift.
    loud = by_name(output_drift(window(300, 1), window(300, 2, latency_scale=1.7)))["latency_ms"]
    assert loud.drifted
    assert by_name(output_drift(fast, slower, OutputThresholds(min_latency_ms=0)))["latency_ms"].drifted
