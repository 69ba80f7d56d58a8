"""The one embedder: unit vectors, sensible similarities, a bounded cache, lazy imports, clear errors."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from llmgate.errors import ConfigError
from llmgate.quality.embedder import Embedder, default_embedder
from llmgate.quality.forward_passes import exact_passes


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


def test_a_batch_invariant_vector_does_not_depend_on_its_batch_to_the_last_bit(
    embedder: Embedder, qa_rows: list[dict[str, Any]]
) -> None:
    """What lets the evals score answers in batches with the scores of one at a time."""
    exact = Embedder(str(embedder.model_path), cache_size=0, batch_invariant=True)
    exact._model = embedder._model  # share the loaded weights; no cache: every vector computed
    texts = list(
        dict.fromkeys(
            [row["question"] for row in qa_rows[:40]]
            + [row["right_answer"] for row in qa_rows[:40]]
            + [sentence + "." for sentence in qa_rows[0]["knowledge"].split(". ")]
        )
    )
    alone = np.stack([exact.encode([text])[0] for text in texts])
    together = exact.encode(texts)
    backwards = exact.encode([*texts[::-1], "Another text of its own length, here to keep them company."])
    assert np.array_equal(alone, together)
    assert np.array_equal(alone, backwards[: len(texts)][::-1])
    lengths = {len(batch) for batch in exact._batches(texts)}
    assert max(lengths) > 2  # texts of one length did share passes
    # padded passes, as before: the same vectors to about 1e-6, not to the bit
    np.testing.assert_allclose(together, embedder.encode(texts), atol=1e-5)
    assert default_embedder().batch_invariant


def test_exact_passes_hold_one_length_each_within_the_bounds() -> None:
    lengths = [5] * 30 + [7, 9, 9] + [100] * 9 + [300]
    passes = exact_passes(lengths, batch_size=8, max_tokens=350)
    assert sorted(i for p in passes for i in p) == list(range(len(lengths)))
    assert all(len({lengths[i] for i in p}) == 1 for p in passes)
    assert all(len(p) <= 8 and (len(p) == 1 or len(p) * lengths[p[0]] <= 350) for p in passes)
    assert sorted(len(p) for p in passes if lengths[p[0]] == 5) == [6, 8, 8, 8]  # none left with a few
    assert sorted(len(p) for p in passes if lengths[p[0]] == 100) == [3, 3, 3]
    assert [len(p) for p in passes if lengths[p[0]] == 300] == [1]  # over the budget: alone


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
