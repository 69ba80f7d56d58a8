"""A semantic vector as the backend stores it: its key and its value.

Key: ``{namespace}:v:{model group}:{scope}:{rest digest}:{digest}`` for the space
``{namespace}:{model group}:{scope}:{rest digest}`` (``keys.space_key``; its namespace is that of
the exact entry it points at), ``digest`` being a BLAKE2b digest of the last user turn's text (the
same text again in a space replaces its vector). So ``keys.match_pattern(namespace, "v", group,
team)`` finds a model group's or a team's vectors, as it does their exact entries with ``"e"``.

Value: one JSON line (``e``: the exact entry's key, ``x``: when it expires, in Unix seconds,
``m``: the embedding model, ``h``: the text digest), then the vector as little-endian float32.
A vector of another model is never loaded: vectors of different models are not comparable.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, NamedTuple

import orjson

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["StoredVector", "decode_vector", "encode_vector", "text_digest", "vector_key", "vector_pattern"]


class StoredVector(NamedTuple):
    space: str
    digest: str
    vector: FloatArray
    entry_key: str
    expires_at: float
    key: str


def text_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def vector_pattern(space: str) -> str:
    """The key (or glob) of the vectors of ``space`` (or of a glob of spaces):
    ``{namespace}:v:{the rest of the space}``."""
    namespace, _, rest = space.partition(":")
    return f"{namespace}:v:{rest}"


def vector_key(space: str, digest: str) -> str:
    """``{namespace}:v:{model group}:{scope}:{rest digest}:{digest}``."""
    return f"{vector_pattern(space)}:{digest}"


def encode_vector(entry_key: str, expires_at: float, model: str, digest: str, vector: FloatArray) -> bytes:
    header = {"e": entry_key, "x": expires_at, "m": model, "h": digest}
    return orjson.dumps(header) + b"\n" + vector.astype("<f4").tobytes()


def decode_vector(key: str, value: bytes, model: str, now: float) -> StoredVector | None:
    """The stored vector, or None when it is malformed, expired or of another model."""
    # numpy (optional, heavy): decoding stored vectors, when the semantic index starts
    import numpy as np

    parts = key.split(":")
    head, _, raw = value.partition(b"\n")
    if len(parts) != 6 or parts[1] != "v" or not raw or len(raw) % 4:
        return None
    try:
        header = orjson.loads(head)
        entry_key, expires_at = str(header["e"]), float(header["x"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if expires_at <= now or header.get("m") != model:
        return None
    vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return StoredVector(":".join([parts[0], *parts[2:5]]), parts[5], vector, entry_key, expires_at, key)
