"""Length-prefixed pickle frames between the gateway and its record writer process.

Both ends are llmgate processes started from the same install, over a pipe only they hold, so
pickle (fast, and it carries ``CallRecord`` dataclasses as they are) is safe here.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

_HEADER = struct.Struct("!I")
#: a frame past this is a protocol error, not a record batch
MAX_FRAME = 1 << 30


def encode(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


def decode(frame: bytes) -> Any:
    """The message in a frame made by ``encode``."""
    return pickle.loads(frame[_HEADER.size :])


async def read(reader: asyncio.StreamReader) -> Any | None:
    """The next message, or ``None`` at end of stream (the other side is gone)."""
    try:
        header = await reader.readexactly(_HEADER.size)
        (size,) = _HEADER.unpack(header)
        if size > MAX_FRAME:
            raise ValueError(f"frame of {size} bytes")
        return pickle.loads(await reader.readexactly(size))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
