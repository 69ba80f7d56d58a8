"""What every ``TextEmbedder`` shares: the protocol, the defaults, input checks and the vector cache.

The local sentence-transformers ``Embedder`` (``embedder.py``) and the OpenAI-compatible
``HttpEmbedder`` (``http_embedder.py``) both cut, deduplicate and cache texts the same way; the
rules live here once so that neither embedder module imports the other's internals. Nothing
heavy is imported: numpy appears only in type annotations.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from llmgate.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["DEFAULT_MAX_CHARS", "MONITOR_USER", "TextEmbedder", "VectorCache", "check_sizes", "prepare"]

#: Texts are cut to this many characters before they are embedded (the default model reads ~1,000).
DEFAULT_MAX_CHARS = 4000
#: The ``user`` that ``HttpEmbedder`` sends by default: the monitors skip records with it.
MONITOR_USER = "llmgate-monitor"


class TextEmbedder(Protocol):
    """What the scorers need of an embedder: unit-length float32 rows, one per text, in order.

    ``encode`` takes a sequence of texts (not a single string) and returns an ``(n, dimension)``
    float32 array whose rows have unit length, so that cosine similarity is a dot product.
    ``load`` prepares the embedder (loads the model, or checks the endpoint once) and raises a
    ``ConfigError`` when it cannot work; it is cheap once done. ``model_name`` labels the vectors
    (vectors of different models must not be compared). ``close`` releases what the embedder
    holds open; it may be used again afterwards.
    """

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def load(self) -> None: ...

    def encode(self, texts: Sequence[str]) -> FloatArray: ...

    def clear_cache(self) -> None: ...

    def close(self) -> None: ...


def check_sizes(batch_size: int, cache_size: int, max_chars: int) -> None:
    if batch_size < 1:
        raise ConfigError(f"embedder batch_size must be at least 1, got {batch_size}")
    if cache_size < 0:
        raise ConfigError(f"embedder cache_size must not be negative, got {cache_size}")
    if max_chars < 1:
        raise ConfigError(f"embedder max_chars must be at least 1, got {max_chars}")


def prepare(texts: Sequence[str], max_chars: int) -> list[str]:
    """The texts as ``str``, each cut to ``max_chars`` characters; a lone string is refused."""
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of texts, not a single string")
    return [str(text)[:max_chars] for text in texts]


class VectorCache:
    """A bounded LRU of vectors keyed by a 16-byte digest of their text (not the text itself)."""

    __slots__ = ("_entries", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, FloatArray] = OrderedDict()

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, text: str) -> FloatArray | None:
        key = self.key(text)
        vector = self._entries.get(key)
        if vector is not None:
            self._entries.move_to_end(key)
        return vector

    def put(self, items: Iterable[tuple[str, FloatArray]]) -> None:
        if self.size == 0:
            return
        for text, vector in items:
            key = self.key(text)
            self._entries[key] = vector.copy()  # a view would keep its whole batch alive
            self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
