"""The datasets' tables: named sets of cases copied out of recorded calls, for eval suites.

- ``datasets``: one row per dataset: its unique ``name``, a ``description``, the query that made
  it from the logs (``query_json``: since, until, model, where, sample, dedupe, keep_pii, seed;
  NULL for a dataset curated by hand) and when it was made and last changed.
- ``dataset_items``: one row per case: the request it was copied from (``request_id``, NULL for an
  item without a recorded call), its session and model, when the call was recorded
  (``created_at``), the chat ``messages`` sent (PII scrubbed unless the dataset keeps it), the
  retrieved ``context`` passages, the recorded ``answer``, the users' ``rating`` of it (``good``,
  ``bad``, NULL), a snapshot of its ``scores`` (JSON), and who added it when. The unique index
  ``ux_dataset_items_request`` on (dataset, request) makes adding a request twice a no-op, on both
  stores; it also serves reading a dataset's items.

Items are copies, not references, so pruning or retention of ``requests`` never empties a
dataset. No foreign key (as elsewhere in the store): ``store/datasets.py`` deletes a dataset's
items with it, in one transaction. Imported by ``store/models.py`` so the tables are on its
``metadata``; the schema change is migration 0015.
"""

from __future__ import annotations

import sqlalchemy as sa

from llmgate.store.columns import UTCDateTime, col, metadata, serial_id

#: the longest dataset name and description the store keeps
MAX_NAME = 128
MAX_DESCRIPTION = 2000
MAX_ACTOR = 160

#: A named dataset and the query that made it.
sa.Table(
    "datasets",
    metadata,
    serial_id(),
    col("name", sa.String(MAX_NAME)),
    col("description", sa.Text, null=True),
    col("query_json", sa.Text, null=True),  # {since, until, model, where, sample, dedupe, keep_pii, seed}
    col("created_at", UTCDateTime),
    col("updated_at", UTCDateTime),
    sa.Index("ux_datasets_name", "name", unique=True),
)

#: One case of a dataset, copied out of one recorded call.
sa.Table(
    "dataset_items",
    metadata,
    serial_id(),
    col("dataset_id", sa.Integer),  # datasets.id
    col("request_id", sa.String(32), null=True),  # requests.id it was copied from
    col("session_id", sa.String, null=True),
    col("model", sa.String),
    col("created_at", UTCDateTime),  # when the call was recorded
    col("messages_json", sa.Text),
    col("context_json", sa.Text, null=True),  # the retrieved passages, a JSON list
    col("answer", sa.Text, null=True),
    col("rating", sa.String(8), null=True),  # good | bad
    col("scores_json", sa.Text, null=True),  # {name: value}
    col("added_at", UTCDateTime),
    col("added_by", sa.String(MAX_ACTOR)),  # cli:<os user> | api:master | api:<key id> | ui:<subject>
    sa.Index("ux_dataset_items_request", "dataset_id", "request_id", unique=True),
)
