"""The ``scores`` table: every score a request or a session got, and from whom.

One row per (target, name, source): ``target_kind`` is ``request`` or ``session`` and
``target_id`` the request's id or the session's id; ``name`` what was scored (``thumbs``,
``helpfulness``...); ``source`` who scored it (``key:<id>``, ``master``, ``monitor``,
``eval:<run id>``). A score is a number (``kind`` ``number``, in ``value_num``), a bool (``bool``:
``value_num`` 1.0 or 0.0) or a label (``label``, in ``value_label``), with an optional comment.
The unique index ``ux_scores_target_name_source`` makes a repeated score an update of the same
row, on both stores. Imported by ``store/models.py`` so the table is on its ``metadata``; the
schema change is migration 0014; ``store/scores.py`` reads and writes it.
"""

from __future__ import annotations

import sqlalchemy as sa

from llmgate.store.columns import UTCDateTime, col, metadata, serial_id

#: the longest score name, label and comment the store keeps
MAX_NAME = 64
MAX_LABEL = 128
MAX_COMMENT = 2000
MAX_SOURCE = 160

#: One score of one request or session, from one source.
sa.Table(
    "scores",
    metadata,
    serial_id(),
    col("target_kind", sa.String(16)),  # request | session
    col("target_id", sa.String),  # requests.id, or a session id
    col("name", sa.String(MAX_NAME)),
    col("kind", sa.String(8)),  # number | bool | label
    col("value_num", sa.Float, null=True),  # number; bool as 1.0 / 0.0
    col("value_label", sa.String(MAX_LABEL), null=True),
    col("comment", sa.Text, null=True),
    col("source", sa.String(MAX_SOURCE)),  # key:<id> | master | monitor | eval:<run id>
    col("created_at", UTCDateTime),
    col("updated_at", UTCDateTime, index=True),
    sa.Index("ux_scores_target_name_source", "target_kind", "target_id", "name", "source", unique=True),
)
