"""The audit log's one writer, and the transaction every audited write runs in.

Every admin write (keys and teams in ``store/keys.py``, users in ``store/users.py``, team members
in ``store/team_members.py``, canaries in ``store/canaries.py``) puts its row and its
``audit_log`` entry in one transaction opened by ``transaction``: both or neither. The entry says
who, when, what action on what target and which values changed (never a key, a prefix or a hash:
the callers hand over what may be shown). The log is append-only: nothing here changes or deletes
an entry. ``transaction`` maps what the database refuses to the errors callers report: a
constraint (a taken id, a second active canary on one model) is ``InvalidRequest`` with code
``conflict``; any other store failure is ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from llmgate.errors import InvalidRequest, StoreError
from llmgate.store.db import describe_error
from llmgate.store.models import table


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction; a refused constraint is a ``conflict``, any other failure ``StoreError``."""
    try:
        with engine.begin() as conn:
            yield conn
    except IntegrityError as exc:
        raise InvalidRequest(f"conflicting change: {describe_error(exc)}", code="conflict") from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"store write failed: {describe_error(exc)}") from exc


def write_audit(
    conn: Connection, at: datetime, actor: str, action: str, target: str, changes: Mapping[str, Any]
) -> None:
    """Append one audit entry on ``conn`` (inside the write's own transaction)."""
    conn.execute(
        sa.insert(table("audit_log")).values(
            at=at,
            actor=actor,
            action=action,
            target=target,
            changes_json=orjson.dumps(dict(changes)).decode() if changes else None,
        )
    )
