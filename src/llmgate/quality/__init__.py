"""Offline text-quality scoring shared by evals and monitors: the embedder, ``grounded`` and
``answer_relevance``. Nothing heavy is imported here: torch and sentence-transformers load on
first use."""
