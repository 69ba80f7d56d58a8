"""Issuing and rotating a virtual key, once for every surface (the CLI and the admin API).

A key is made here (``auth/keys.py``: 256 random bits, a public ``key_...`` id), stored by its
hash and display prefix only (``store/keys.py``), and handed back with its row, so the caller can
show it this one time. Rotating gives the same key a new secret; the previous one stops working
at once. The store checks the values and writes each change with its audit entry.
"""

from __future__ import annotations

from typing import Unpack

from sqlalchemy.engine import Engine

from llmgate.auth.keys import display_prefix, generate_key, generate_key_id, hash_key
from llmgate.store import keys as store
from llmgate.store.key_fields import KeyFields
from llmgate.store.key_rows import KeyRow

__all__ = ["issue_key", "rotate_key"]


def issue_key(engine: Engine, *, actor: str, **fields: Unpack[KeyFields]) -> tuple[str, KeyRow]:
    """A new key with ``fields`` (``store.keys.KeyFields``): the key itself, shown only now, and its row."""
    key = generate_key()
    row = store.create_key(
        engine,
        key_hash=hash_key(key),
        key_prefix=display_prefix(key),
        actor=actor,
        key_id=generate_key_id(),
        **fields,
    )
    return key, row


def rotate_key(engine: Engine, key_ref: str, *, actor: str) -> tuple[str, KeyRow]:
    """A new secret for the key whose id or alias is ``key_ref``: the new key and the key's row."""
    key = generate_key()
    return key, store.rotate_key(engine, key_ref, hash_key(key), display_prefix(key), actor)
