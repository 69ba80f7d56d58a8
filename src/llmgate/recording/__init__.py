"""llmgate.recording: the record pipeline, off the request path.

``recorder`` (bounded queue, batch writes), ``writer_process`` and ``writer_child`` (the same, in a
process of its own), ``spill`` and ``replay`` (records the store cannot take, kept on disk and replayed),
``degrade`` (records that cannot be stored as they are). A record is confirmed only once it is stored or
fsynced. What a record *is* (``CallRecord``, its row) is ``telemetry/call_record.py``'s business.
"""
