"""The one embedder: unit vectors, sensible similarities, a bounded cache, lazy imports, clear errors."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from llmgate.errors import ConfigError
from llmgate.quality.embedder import Embedder, default_embedder


def test_importing_the_quality_package_imports_no_model_library() -> None:
    code = (
        "import sys\n"
        "import llmgate.quality, llmgate.quality.embedder, llmgate.quality.grounded\n"
        "import llmgate.quality.relevance, llmgate.quality.text\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'numpy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""


def test_vectors_are_float32_and_unit_length(embedder: Embedder, qa_rows: list[dict[str, Any]]) -> None:
    texts = [row["question"] for row in qa_rows[:8]] + [qa_rows[0]["knowledge"], "x"]
    vectors = embedder.encode(texts)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_question_is_closer_to_its_own_knowledge_than_to_another_rows(
    embedder: Embedder, qa_rows: list[dict[str, Any]]
) -> None:
    rows = qa_rows[:20]
    questions = embedder.encode([row["question"] for row in rows])
    knowledge = embedder.encode([row["knowledge"] for row in rows])
    similarity = questions @ knowledge.T
    own = np.diag(similarity)
    others = similarity[~np.eye(len(rows), dtype=bool)].reshape(len(rows), -1)
    assert (own > others.max(axis=1)).mean() >= 0.9
    assert own.mean() > others.mean() + 0.3


def test_empty_input_gives_an_empty_matrix(embedder: Embedder) -> None:
    assert embedder.encode([]).shape == (0, 384)


def test_a_single_string_is_refused(embedder: Embedder) -> None:
    with pytest.raises(TypeError):
        embedder.encode("not a list")  # type: ignore[arg-type]


def test_the_cache_is_bounded_and_returns_the_same_vectors(
    embedder: Embedder, qa_rows: list[dict[str, Any]]
) -> None:
    small = Embedder(str(embedder.model_path), cache_size=3)
    small._model = embedder._model  # share the loaded weights; the cache is the instance's own
    texts = [row["right_answer"] for row in qa_rows[:6]]
    first = small.encode(texts)
    assert len(small._cache) == 3
    again = small.encode(texts[::-1])[::-1]
    np.testing.assert_allclose(first, again, atol=1e-5)
    np.testing.assert_allclose(first, embedder.encode(texts), atol=1e-5)


def test_default_embedder_is_one_instance() -> None:
    assert default_embedder() is default_embedder()


def test_a_model_that_is_not_a_local_directory_is_a_config_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="not a local directory"):
        Embedder("sentence-transformers/some-hub-model")
    with pytest.raises(ConfigError, match="not a local directory"):
        Embedder(str(tmp_path / "missing"))


def test_missing_packages_are_a_config_error_naming_the_extra(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    fresh = Embedder(str(embedder.model_path))
    with pytest.raises(ConfigError, match=r"scripts/install.sh quality"):
        fresh.encode(["hello"])
