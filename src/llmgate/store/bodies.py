"""The requests' bodies (the prompt's JSON, the answer), kept compressed on every database.

A kilobyte of English compresses to about 55-57% with zstd (``benchmarks/storage_per_request.py``),
which PostgreSQL's own TOAST compression does not reach: it compresses nothing in a row under
about 2 KB, and pglz and lz4 save little on a kilobyte of text. ``Body`` is a column type that
takes and gives ``str``, and stores:

- a zstd frame (magic ``28 b5 2f fd``) when that is smaller than the text;
- else the text's UTF-8 bytes (short bodies, text that does not compress).

Packing costs the writer process about 27 us a typical record: about a fifth of its records/s on
PostgreSQL (``benchmarks/rollups_writer.py --packing``), still several times a replica's requests/s.

UTF-8 never starts with the magic (``0xb5`` cannot follow ``(``), so the two need no marker, and
bodies written before migration 0020 (text on SQLite, bytes converted from text on PostgreSQL)
read back as they were. PostgreSQL stores ``bytea``, SQLite a BLOB in a column declared TEXT (it
keeps values as they come).

SQL cannot read inside a compressed body: searching the text of requests is done in Python
(``store/body_search.py``), and previews are cut from the read body.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
import zstandard
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["Body", "pack", "unpack"]

_MAGIC = b"\x28\xb5\x2f\xfd"
#: shorter bodies are kept as they came: a frame's header and tables cost more than they save
_SHORTEST = 64
#: zstd's level 1 on a kilobyte of English: 585 B in 7.4 us of the writer process's CPU (level 3:
#: as small, in 9.5 us; level 6: 574 B in 17.5 us; zlib's level 6: 556 B in 26 us); unpacking ~3 us
_LEVEL = 1
#: zstandard's (de)compressors are not for two threads at once (the writer stores several
#: batches at once, the server reads in a pool): one of each per thread
_LOCAL = threading.local()


_Coders = tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]


def _coders() -> _Coders:
    coders: _Coders | None = getattr(_LOCAL, "coders", None)
    if coders is None:
        compressor = zstandard.ZstdCompressor(level=_LEVEL, write_checksum=False, write_dict_id=False)
        coders = _LOCAL.coders = (compressor, zstandard.ZstdDecompressor())
    return coders


def pack(text: str) -> bytes:
    """``text`` as stored: compressed when that makes it smaller, else its UTF-8 bytes."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) < _SHORTEST:
        return raw
    packed = _coders()[0].compress(raw)
    return packed if len(packed) < len(raw) else raw


def unpack(stored: bytes | memoryview | str) -> str:
    """The text ``pack`` stored (or text stored before bodies were packed)."""
    if isinstance(stored, str):
        return stored
    data = bytes(stored)
    if data.startswith(_MAGIC):
        data = _coders()[1].decompress(data)
    return data.decode("utf-8", "surrogatepass")


class Body(TypeDecorator[str]):
    """Text in, text out; packed (``pack``) in the database: ``bytea`` on PostgreSQL, SQLite's
    column stays TEXT (no table rebuild) and holds BLOBs."""

    impl = sa.LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.LargeBinary())

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"expected text, got {type(value).__name__}")
        return pack(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else unpack(value)

    @property
    def python_type(self) -> type[str]:
        return str
