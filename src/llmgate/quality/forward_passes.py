"""How the local embedder cuts a list of texts into forward passes (pure functions of sizes).

- ``padded_passes``: texts sorted by their estimated size, each pass of at most ``batch_size``
  texts and ``max_tokens`` padded word pieces (a pass is padded to its longest text). A text's
  vector then depends, by about 1e-7, on the texts it is batched with: the padding changes the
  attention's and the pooling's sums, and matrix products of other shapes sum in another order.
- ``exact_passes`` (``Embedder(batch_invariant=True)``): each pass holds texts of one exact
  length in word pieces, so nothing is padded. With each text's matrix products computed on their
  own (``exact_products.py``) and MKL's strict reproducibility on (``MKL_CBWR=AUTO,STRICT``, which
  the embedder sets before torch computes anything), a text's vector is the same to the last bit
  whatever it is batched with, and whatever the thread count (measured on CPU torch 2.13, float32:
  the machine it was first measured on, at 1, 2 and 4 threads, where one product for the whole
  pass was exact too, and an AVX2 AMD EPYC at 2 threads, where it was not; checked by
  ``tests/quality/test_embedder.py``). Texts of many lengths make many small passes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

__all__ = ["exact_passes", "padded_passes"]


def padded_passes(sizes: Sequence[int], batch_size: int, max_tokens: int) -> list[list[int]]:
    """Indices per pass, shortest first: at most ``batch_size`` texts and ``max_tokens`` padded
    word pieces each (``sizes``: each text's word pieces, or an estimate)."""
    passes: list[list[int]] = []
    current: list[int] = []
    for i in sorted(range(len(sizes)), key=lambda k: sizes[k]):
        # sorted ascending, so the text being added is the longest of its pass
        if current and (len(current) >= batch_size or sizes[i] * (len(current) + 1) > max_tokens):
            passes.append(current)
            current = []
        current.append(i)
    if current:
        passes.append(current)
    return passes


def exact_passes(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[list[int]]:
    """Indices per pass, each pass of one exact length (``lengths``: word pieces per text), of at
    most ``batch_size`` texts and ``max_tokens`` word pieces (but at least one text); the passes
    of one length are even, so that none is left with a few texts."""
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, length in enumerate(lengths):
        by_length[max(1, length)].append(i)
    passes: list[list[int]] = []
    for length, indices in sorted(by_length.items()):
        per_pass = max(1, min(batch_size, max_tokens // length))
        size = -(-len(indices) // -(-len(indices) // per_pass))
        passes += [indices[start : start + size] for start in range(0, len(indices), size)]
    return passes
