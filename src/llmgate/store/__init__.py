"""llmgate.store: everything that touches the database, and nothing else does.

``db`` builds engines from URLs (SQLite or PostgreSQL), ``models`` declares the tables,
``migrate`` brings a database to the newest schema, and one module per concern holds its
queries (``records`` for the requests table). Importing this package opens nothing.
"""
