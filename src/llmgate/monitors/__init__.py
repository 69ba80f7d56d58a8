"""Live monitors: what recorded traffic says about drift and retrieval quality, off the request path.

The ``llmgate monitor`` worker (``worker``) reads new records from the store, takes what it
needs from each (``features``), embeds prompts and answers, scores retrieval (``rag_quality``),
compares a reference window with the current one per model and route (``evaluate``), and turns
the result into alerts (``conditions``) and reports (``reports``).

The statistics are pure functions of two windows, with no I/O: embedding drift (``drift``:
centroid shift, MMD, PSI over k-means clusters, a domain classifier and the out-of-distribution
rate, on the faiss helpers in ``index``) and output drift (``output_drift``: lengths, refusals,
finish reasons, tool calls, errors, latency and tokens).

numpy, scipy, scikit-learn and faiss are needed here only, and the request path never imports
this package, so the gateway starts and serves without them. Nothing is imported here.
"""
