"""llmgate.store: everything that touches the database, and nothing else does.

``db`` builds engines from URLs (SQLite or PostgreSQL), ``models`` declares the tables,
``migrate`` brings a database to the newest schema, and one module per concern holds its
queries (``records`` for the requests table). Importing this package opens nothing.
"""

#: A requests row may carry, under this key, a ``stored_responses`` row to insert with it in the
#: same transaction (a Responses API answer kept for ``previous_response_id``): it is built in the
#: gateway with the call's record and stored by the record's writer, never by the gateway itself.
STORED_RESPONSE = "stored_response"
