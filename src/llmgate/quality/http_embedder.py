"""``HttpEmbedder``: the ``TextEmbedder`` of an OpenAI-compatible ``POST {base_url}/embeddings``.

Typically an embeddings deployment of the gateway itself, so the monitors can embed with any
model the gateway serves. It sends ``"user": "llmgate-monitor"`` (by default) so that the
monitors recognise, and skip, the records of their own calls. It loads no model: its footprint is
the vector cache and one HTTP client. Texts are cut, deduplicated, batched and cached as the local
``Embedder`` does (both use ``embedding.py``); errors become llmgate's upstream errors, never with the key.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from llmgate.errors import ConfigError, RateLimited, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from llmgate.quality.embedding import DEFAULT_MAX_CHARS, MONITOR_USER, VectorCache, check_sizes, prepare

if TYPE_CHECKING:
    import httpx
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]


class HttpEmbedder:
    """Embeds texts through an OpenAI-compatible ``POST {base_url}/embeddings`` endpoint.

    ``base_url`` is the API root, such as ``http://127.0.0.1:4000/v1`` for an embeddings
    deployment of the gateway itself, and ``model`` the model (alias) to ask for. Texts are cut
    to ``max_chars`` characters, the ones not in the cache are sent ``batch_size`` at a time,
    and the returned rows are normalised to unit length. Every request carries ``"user": user``
    so the monitors can skip the records of their own calls.

    Errors are llmgate's own: a rejected key, an unknown model or a wrong URL (4xx) is a
    ``ConfigError``; 429 is ``RateLimited``; a timeout ``UpstreamTimeout``; an unreachable
    endpoint ``UpstreamUnavailable``; 5xx or a malformed body ``UpstreamError``. No message
    contains the API key. The HTTP client (httpx, synchronous, pooled) opens on first use and
    stays open until ``close()``; the instance is safe to share between threads.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        batch_size: int = 64,
        timeout: float = 30.0,
        cache_size: int = 2048,
        user: str = MONITOR_USER,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        check_sizes(batch_size, cache_size, max_chars)
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"embeddings base_url must start with http:// or https://, got {base_url!r}")
        if not model or not model.strip():
            raise ConfigError("an embeddings endpoint needs a model name")
        if timeout <= 0:
            raise ConfigError(f"embeddings timeout must be positive, got {timeout}")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/embeddings"
        self.model = model
        self.batch_size = batch_size
        self.timeout = timeout
        self.cache_size = cache_size
        self.user = user
        self.max_chars = max_chars
        self._api_key = api_key or None
        self._dimension: int | None = None
        self._cache = VectorCache(cache_size)
        self._lock = threading.RLock()
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:  # never the key
        return f"HttpEmbedder(url={_display_url(self.url)!r}, model={self.model!r})"

    def __enter__(self) -> HttpEmbedder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def model_name(self) -> str:
        """The model asked of the endpoint."""
        return self.model

    @property
    def dimension(self) -> int:
        """Length of the vectors (asks the endpoint once if no vector has been seen yet)."""
        self.load()
        assert self._dimension is not None
        return self._dimension

    def load(self) -> None:
        """Embed one probe text if nothing has been embedded yet: a wrong URL, key or model fails here."""
        if self._dimension is None:
            self.encode(["llmgate embedder probe"])

    def close(self) -> None:
        """Close the HTTP client (a later ``encode`` opens a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """One unit-length float32 row per text, in order; texts seen recently come from the cache."""
        # numpy: only when vectors are computed, off importing this module (gateway, CLI start-up)
        import numpy as np

        texts = prepare(texts, self.max_chars)
        known: dict[str, FloatArray] = {}
        with self._lock:
            for text in dict.fromkeys(texts):
                cached = self._cache.get(text)
                if cached is not None:
                    known[text] = cached
        missing = [text for text in dict.fromkeys(texts) if text not in known]
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            vectors = self._request(batch)
            fresh = list(zip(batch, vectors, strict=True))
            with self._lock:
                self._cache.put(fresh)
            known.update(fresh)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([known[text] for text in texts]).astype(np.float32, copy=False)

    # --- one request ------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                # httpx: only when the HTTP embedder is used, off the gateway process otherwise
                import httpx

                headers = {"Accept": "application/json"}
                if self._api_key:
                    headers["Authorization"] = f"Bearer {self._api_key}"
                self._client = httpx.Client(
                    headers=headers,
                    timeout=httpx.Timeout(self.timeout),
                    transport=httpx.HTTPTransport(retries=1),  # retries failed connects only
                )
            return self._client

    def _request(self, batch: list[str]) -> FloatArray:
        # httpx: only when the HTTP embedder is used, off the gateway process otherwise
        import httpx

        body = {"model": self.model, "input": batch, "user": self.user}
        where = f"the embeddings endpoint {_display_url(self.url)} (model {self.model!r})"
        try:
            response = self._http().post(self.url, json=body)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(
                f"{where} did not answer within {self.timeout:g} s", deployment=self.model
            ) from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"{where} cannot be reached: {self._scrub(type(exc).__name__ + ': ' + str(exc))}",
                deployment=self.model,
            ) from exc
        if response.status_code != 200:
            raise self._status_error(response, where)
        try:
            payload = response.json()
        except ValueError:
            raise UpstreamError(
                f"{where} answered with a body that is not JSON", deployment=self.model, upstream_status=200
            ) from None
        return self._vectors(payload, len(batch), where)

    def _status_error(self, response: httpx.Response, where: str) -> Exception:
        status = response.status_code
        detail = self._scrub(_error_detail(response))
        message = f"{where} answered {status}" + (f": {detail}" if detail else "")
        if status in (401, 403):
            return ConfigError(f"{message}; check the API key the embedder is given")
        if status == 429:
            retry_after = response.headers.get("retry-after")
            try:
                seconds = float(retry_after) if retry_after is not None else None
            except ValueError:
                seconds = None
            return RateLimited(message, deployment=self.model, retry_after=seconds)
        if 400 <= status < 500:
            return ConfigError(f"{message}; check the embeddings base_url and model")
        return UpstreamError(message, deployment=self.model, upstream_status=status)

    def _vectors(self, payload: object, expected: int, where: str) -> FloatArray:
        # numpy: only when vectors are computed, off importing this module (gateway, CLI start-up)
        import numpy as np

        def malformed(why: str) -> UpstreamError:
            return UpstreamError(
                f"{where} answered 200 with {why}", deployment=self.model, upstream_status=200
            )

        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or len(data) != expected:
            got = len(data) if isinstance(data, list) else "no"
            raise malformed(f"{got} embeddings for {expected} inputs")
        if all(isinstance(item, dict) and isinstance(item.get("index"), int) for item in data):
            data = sorted(data, key=lambda item: item["index"])
        rows = []
        for item in data:
            raw = item.get("embedding") if isinstance(item, dict) else None
            if isinstance(raw, str):  # encoding_format "base64": little-endian float32
                try:
                    rows.append(np.frombuffer(base64.b64decode(raw), dtype="<f4"))
                except ValueError:
                    raise malformed("an embedding that is not valid base64") from None
            elif isinstance(raw, list) and raw and all(isinstance(x, int | float) for x in raw):
                rows.append(np.asarray(raw, dtype=np.float32))
            else:
                raise malformed("an item without a list of numbers as its embedding")
        sizes = {len(row) for row in rows}
        if len(sizes) != 1 or 0 in sizes:
            raise malformed(f"embeddings of different lengths {sorted(sizes)}")
        vectors = np.stack(rows).astype(np.float32)
        if not np.isfinite(vectors).all():
            raise malformed("embeddings that are not finite numbers")
        size = int(vectors.shape[1])
        with self._lock:
            if self._dimension is None:
                self._dimension = size
            elif size != self._dimension:
                raise malformed(f"{size}-dimensional embeddings after {self._dimension}-dimensional ones")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalised: FloatArray = (vectors / np.maximum(norms, np.float32(1e-12))).astype(np.float32)
        return normalised

    def _scrub(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text


def _display_url(url: str) -> str:
    """The URL without user info or query string, for messages."""

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _error_detail(response: httpx.Response) -> str:
    """The ``error.message`` of an OpenAI error body, else the start of the body, on one line."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    detail: object = None
    if isinstance(payload, dict):
        error = payload.get("error")
        detail = error.get("message") if isinstance(error, dict) else error or payload.get("detail")
    text = str(detail) if detail else response.text
    return " ".join(text.split())[:200]
