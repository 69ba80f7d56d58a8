"""Per-unit prices from litellm's map: images, seconds, characters, queries; ``None`` when unpriced."""

from __future__ import annotations

from decimal import Decimal

from llmgate.pricing.prices import Price
from llmgate.pricing.units import MediaUsage, media_cost

D = Decimal


def test_images_per_image_per_pixel_and_per_token() -> None:
    assert media_cost(MediaUsage(images=3), {"output_cost_per_image": D("0.04")}, None) == D("0.12")
    per_pixel = {"input_cost_per_pixel": D("1e-8"), "output_cost_per_pixel": D("0")}
    assert (
        media_cost(MediaUsage(images=2, pixels=1024 * 1024), per_pixel, None) == D("1e-8") * 1024 * 1024 * 2
    )
    assert media_cost(MediaUsage(images=1), per_pixel, None) is None  # no size: no pixels to price
    tokens = {"input_cost_per_token": D("5e-6"), "output_cost_per_image_token": D("4e-5")}
    usage = MediaUsage(images=1, input_tokens=10, output_tokens=100)
    assert media_cost(usage, tokens, Price(D("5e-6"), D("0"))) == 10 * D("5e-6") + 100 * D("4e-5")


def test_audio_characters_queries_and_moderation() -> None:
    assert media_cost(MediaUsage(seconds=1.5), {"input_cost_per_second": D("0.0001")}, None) == D("0.00015")
    assert media_cost(MediaUsage(characters=1000), {"input_cost_per_character": D("1.5e-5")}, None) == D(
        "0.015"
    )
    assert media_cost(MediaUsage(search_units=2), {"input_cost_per_query": D("0.002")}, None) == D("0.004")
    assert media_cost(MediaUsage(inputs=2), {}, Price(D(0), D(0))) == 0  # free by the map's token price
    # a transcription that reports tokens is priced by them, audio tokens at their own price
    entry = {
        "input_cost_per_token": D("2.5e-6"),
        "input_cost_per_audio_token": D("6e-6"),
        "output_cost_per_token": D("1e-5"),
    }
    usage = MediaUsage(seconds=3, input_tokens=100, audio_tokens=80, output_tokens=10)
    assert media_cost(usage, entry, None) == 20 * D("2.5e-6") + 80 * D("6e-6") + 10 * D("1e-5")


def test_unpriced_is_none() -> None:
    assert media_cost(MediaUsage(images=1), {}, None) is None
    assert media_cost(MediaUsage(seconds=2), {}, Price(D(1), D(1))) is None
    assert media_cost(MediaUsage(search_units=1), {"input_cost_per_token": D(0)}, None) is None
    assert media_cost(MediaUsage(characters=5), {}, None) is None
