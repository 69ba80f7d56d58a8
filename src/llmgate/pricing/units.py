"""The cost of calls priced by what they make rather than by tokens: images, audio, characters, queries.

The price map (litellm's, read by ``prices.PriceBook.entry``) prices these endpoints per unit:

- images: ``output_cost_per_image`` (or ``input_cost_per_image``) per image, else
  ``input_cost_per_pixel`` + ``output_cost_per_pixel`` per pixel of each image; gpt-image models
  report tokens instead, priced ``input_cost_per_token`` in and ``output_cost_per_image_token``
  (else ``output_cost_per_token``) out;
- transcriptions and translations: ``input_cost_per_second`` of audio (tokens, when the upstream
  reports them, at ``input_cost_per_audio_token`` / ``input_cost_per_token`` and
  ``output_cost_per_token``);
- speech: ``input_cost_per_character`` of input text (tokens, when reported, as above);
- rerank: ``input_cost_per_query`` per search unit (one query of up to 100 documents, Cohere's);
- moderation: tokens at the token price (free at OpenAI: the map says 0).

``media_cost`` returns ``None`` when the map has no price that applies (the record says
``cost_unknown``), an exact ``Decimal`` otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llmgate.pricing.prices import ZERO, Price

__all__ = ["MediaUsage", "media_cost"]


@dataclass(frozen=True, slots=True)
class MediaUsage:
    """What one call made, in the units it is priced by (``None``: not this kind of call)."""

    images: int | None = None
    pixels: int | None = None  # of each image (width x height), when the size is known
    seconds: float | None = None
    characters: int | None = None
    search_units: int | None = None
    input_tokens: int | None = None  # reported by the upstream
    output_tokens: int | None = None
    audio_tokens: int | None = None  # of input_tokens: the audio's
    inputs: int | None = (
        None  # texts moderated (priced by tokens, when reported; else free if the map says 0)
    )


def _price(entry: Mapping[str, Any], *names: str) -> Decimal | None:
    for name in names:
        value = entry.get(name)
        if value is None or isinstance(value, bool):
            continue
        try:
            return value if isinstance(value, Decimal) else Decimal(str(value))
        except ArithmeticError:
            continue
    return None


def _tokens(usage: MediaUsage, entry: Mapping[str, Any], price: Price | None, output: str) -> Decimal | None:
    """Reported tokens at the token prices (the deployment's own first, via ``price``)."""
    text_in = price.input if price is not None else _price(entry, "input_cost_per_token")
    out = _price(entry, output) if output else None
    if out is None:
        out = price.output if price is not None else _price(entry, "output_cost_per_token")
    if text_in is None or out is None:
        return None
    audio_in = _price(entry, "input_cost_per_audio_token") or text_in
    audio = min(usage.audio_tokens or 0, usage.input_tokens or 0)
    return ((usage.input_tokens or 0) - audio) * text_in + audio * audio_in + (usage.output_tokens or 0) * out


def media_cost(usage: MediaUsage, entry: Mapping[str, Any], price: Price | None) -> Decimal | None:
    """The cost of ``usage`` from the map ``entry`` and the deployment's token ``price``, or ``None``."""
    reported = usage.input_tokens is not None or usage.output_tokens is not None
    if usage.images is not None:
        if reported and "output_cost_per_image_token" in entry:
            return _tokens(usage, entry, price, "output_cost_per_image_token")
        per_image = _price(entry, "output_cost_per_image", "input_cost_per_image")
        if per_image is not None:
            return per_image * usage.images
        per_pixel = _price(entry, "input_cost_per_pixel")
        if per_pixel is not None and usage.pixels is not None:
            per_pixel += _price(entry, "output_cost_per_pixel") or ZERO
            return per_pixel * usage.pixels * usage.images
        return _tokens(usage, entry, price, "") if reported else None
    if usage.seconds is not None and not reported:
        per_second = _price(entry, "input_cost_per_second")
        return per_second * Decimal(str(usage.seconds)) if per_second is not None else None
    if usage.characters is not None and not reported:
        per_character = _price(entry, "input_cost_per_character")
        if per_character is not None:
            return per_character * usage.characters
    if usage.search_units is not None:
        per_query = _price(entry, "input_cost_per_query")
        return per_query * usage.search_units if per_query is not None else None
    return _tokens(usage, entry, price, "") if reported or usage.inputs is not None else None
