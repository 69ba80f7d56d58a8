"""Virtual keys and teams written straight into a store, for tests of what the gateway enforces."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.auth.keys import display_prefix, generate_key, generate_key_id, hash_key
from llmgate.store.migrate import upgrade
from llmgate.store.models import table


def _now() -> datetime:
    return datetime.now(UTC)


def add_team(engine: Engine, name: str, **fields: Any) -> None:
    upgrade(engine)
    row = {"id": name, "created_at": _now(), "updated_at": _now(), **_encoded(fields)}
    with engine.begin() as conn:
        conn.execute(sa.insert(table("teams")), [row])


def add_key(engine: Engine, alias: str, **fields: Any) -> tuple[str, str]:
    """Store a new key; returns (the key, its id)."""
    upgrade(engine)
    key, key_id = generate_key(), generate_key_id()
    row = {
        "id": key_id,
        "key_hash": hash_key(key),
        "key_prefix": display_prefix(key),
        "alias": alias,
        "created_at": _now(),
        "updated_at": _now(),
        **_encoded(fields),
    }
    with engine.begin() as conn:
        conn.execute(sa.insert(table("api_keys")), [row])
    return key, key_id


def change_key(engine: Engine, key_id: str, **fields: Any) -> None:
    keys = table("api_keys")
    with engine.begin() as conn:
        conn.execute(sa.update(keys).where(keys.c.id == key_id).values(updated_at=_now(), **_encoded(fields)))


def _encoded(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    for name in ("models", "tags"):
        if name in out:
            out[f"{name}_json"] = orjson.dumps(out.pop(name)).decode()
    if "budget_usd" in out and out["budget_usd"] is not None:
        out["budget_usd"] = Decimal(str(out["budget_usd"]))
    return out
