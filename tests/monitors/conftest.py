"""Fixtures for the drift statistics: real HaluEval texts, embedded once per session.

The data is found as in ``tests/quality``: ``LLMGATE_SHARED_DATA``, else ``<project>/../shared/data``,
else ``/work/shared/data``. The embedding fixtures skip when the data, sentence-transformers or
faiss is missing; the synthetic tests only need faiss, scipy and scikit-learn.

To keep the session short, only what the tests use is embedded: the 250 QA questions and a
fixed random sample of ``GENERAL_SAMPLE`` of the 2000 general-assistant queries.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from support.shared_data import load_rows

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

PROJECT = Path(__file__).resolve().parents[2]
GENERAL_SAMPLE = 300


def _load(name: str) -> list[dict[str, Any]]:
    return load_rows(name)


@pytest.fixture(scope="session")
def qa_questions() -> list[str]:
    return [row["question"] for row in _load("halueval_qa_dev.jsonl")]


@pytest.fixture(scope="session")
def general_queries() -> list[str]:
    rows = _load("halueval_general_dev.jsonl")
    picks = sorted(random.Random(20240601).sample(range(len(rows)), min(GENERAL_SAMPLE, len(rows))))
    return [rows[i]["user_query"] for i in picks]


@pytest.fixture(scope="session")
def _embed() -> Any:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("faiss")
    from llmgate.quality.embedder import default_embedder

    return default_embedder().encode


@pytest.fixture(scope="session")
def qa_vectors(_embed: Any, qa_questions: list[str]) -> npt.NDArray[np.float32]:
    """The 250 QA questions, (250, 384) unit rows."""
    vectors: npt.NDArray[np.float32] = _embed(qa_questions)
    return vectors


@pytest.fixture(scope="session")
def general_vectors(_embed: Any, general_queries: list[str]) -> npt.NDArray[np.float32]:
    """``GENERAL_SAMPLE`` general-assistant queries, unit rows."""
    vectors: npt.NDArray[np.float32] = _embed(general_queries)
    return vectors
