"""Item 3: limits on request headers and slow clients, before authentication.

Through a real ``llmgate serve`` process and raw sockets (no HTTP client sends an unterminated
header or trickles bytes): the header block is capped (431, connection closed, memory bounded),
headers and bodies must arrive within mod_reqtimeout-style deadlines (408, closed), half-sent
connections do not starve ``/health``, and an ``x-llmgate-*`` header the gateway records is
capped (431, nothing stored with it). Deadlines are short here (2 s, then 100 bytes/s).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from support.configs import MASTER_KEY
from support.raw_http import (
    closed_by_peer,
    connect,
    exchange,
    http_request,
    read_response,
    readable,
)
from support.served import ServedGateway

TIMEOUT_S = 2.0
MIN_RATE = 100
AUTH = ("authorization", f"Bearer {MASTER_KEY}")
MB = 1024 * 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    config = {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER_KEY},
        "llmgate": {
            "http": {
                "header_timeout_s": TIMEOUT_S,
                "body_timeout_s": TIMEOUT_S,
                "min_rate_bytes_per_s": MIN_RATE,
                "max_recorded_header_bytes": 16 * 1024,
            }
        },
    }
    gateway = ServedGateway(config, tmp_path_factory.mktemp("edge")).start()
    yield gateway
    gateway.stop()


def chat_body(text: str = "hello") -> bytes:
    return json.dumps({"model": "mock-echo", "messages": [{"role": "user", "content": text}]}).encode()


def error_of(body: bytes) -> dict[str, object]:
    error: dict[str, object] = json.loads(body)["error"]
    return error


def flood_unterminated_header(port: int, size: int) -> tuple[float, bytes]:
    """Send a request line and one header of ``size`` bytes that never ends; what comes back."""
    sock = connect(port, timeout=10)
    started = time.monotonic()
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-flood: ")
        chunk = b"a" * (256 * 1024)
        sent = 0
        while sent < size:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        answer = b""
        while readable(sock, 10):  # bounded: 10 s of silence ends it
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
        return time.monotonic() - started, answer
    finally:
        sock.close()


def test_header_block_is_capped_with_431_and_memory_stays_bounded(served: ServedGateway) -> None:
    # under the 64 KiB default: served
    big = exchange(served.port, http_request("GET", "/health", [("x-filler", "b" * (63 * 1024))]))
    assert big.status == 200
    for _ in range(20):  # warm up, then measure
        assert httpx.get(served.url + "/health", timeout=5).status_code == 200
    before = served.rss_bytes()
    answers = [flood_unterminated_header(served.port, 20 * MB) for _ in range(3)]
    after = served.rss_bytes()
    for took, answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert b"connection: close" in head.lower()
        error = error_of(body)
        assert error["type"] == "invalid_request_error" and "65536" in str(error["message"])
        assert took < 10
    growth = after - before
    print(
        f"RSS before {before / MB:.1f} MB, after 3 x 20 MB headers {after / MB:.1f} MB (+{growth / MB:.1f} MB)"
    )
    assert growth < 30 * MB
    assert httpx.get(served.url + "/health", timeout=5).status_code == 200


def test_trickled_headers_get_408_and_are_closed(served: ServedGateway) -> None:
    sock = connect(served.port)
    started = time.monotonic()
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ")
        response = None
        while time.monotonic() - started < 3 * TIMEOUT_S + 2:  # bounded, answered or not
            try:
                sock.sendall(b"z")  # a byte every half second: 2 bytes/s, far below the minimum rate
            except (BrokenPipeError, ConnectionResetError):
                break
            if readable(sock, 0.5):
                response = read_response(sock)
                break
        took = time.monotonic() - started
        assert response is not None, "no answer to a trickled header block"
        print(f"408 after {took:.2f} s (header_timeout_s {TIMEOUT_S})")
        assert response.status == 408
        assert error_of(response.body)["code"] == "request_timeout"
        assert TIMEOUT_S - 0.1 < took < TIMEOUT_S + 1.5
        assert closed_by_peer(sock)
    finally:
        sock.close()


def test_slow_body_gets_408_and_a_steady_upload_succeeds(served: ServedGateway) -> None:
    body = chat_body("x" * 400)  # ~470 bytes
    head = http_request("POST", "/v1/chat/completions", [AUTH, ("content-type", "application/json")], body)
    head = head[: -len(body)]

    # steady: 50 bytes every 0.25 s (200 bytes/s) for longer than body_timeout_s: served
    with connect(served.port) as sock:
        sock.sendall(head)
        started = time.monotonic()
        for i in range(0, len(body), 50):
            assert not readable(sock, 0.25), "answered before the body was complete"
            sock.sendall(body[i : i + 50])
        response = read_response(sock, 10)
        assert time.monotonic() - started > TIMEOUT_S
        assert response is not None and response.status == 200, response

    # a byte every half second: 408 once the body deadline passes, and closed
    with connect(served.port) as sock:
        sock.sendall(head)
        started = time.monotonic()
        response = None
        for byte in body[: int(4 * TIMEOUT_S)]:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            if readable(sock, 0.5):
                response = read_response(sock)
                break
        took = time.monotonic() - started
        assert response is not None, "no answer to a trickled body"
        print(f"408 after {took:.2f} s (body_timeout_s {TIMEOUT_S})")
        assert response.status == 408
        assert TIMEOUT_S - 0.1 < took < TIMEOUT_S + 1.5
        assert closed_by_peer(sock)


def test_half_sent_connections_do_not_starve_health(served: ServedGateway) -> None:
    count = 300
    socks: list[socket.socket] = []
    try:
        opened = time.monotonic()
        for _ in range(count):
            sock = connect(served.port)
            sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-half: sent")
            socks.append(sock)
        latencies = []
        with httpx.Client(timeout=5) as client:
            for _ in range(10):
                t0 = time.monotonic()
                assert client.get(served.url + "/health", headers={"connection": "close"}).status_code == 200
                latencies.append(time.monotonic() - t0)
        print(f"/health with {count} half-sent connections: max {max(latencies) * 1000:.1f} ms")
        assert max(latencies) < 1.0
        # each half-sent request is answered 408 and closed once its header deadline passes
        closed = 0
        deadline = opened + TIMEOUT_S + 5
        for sock in socks:
            if closed_by_peer(sock, max(0.0, deadline - time.monotonic())):
                closed += 1
        print(f"closed by the gateway {time.monotonic() - opened:.2f} s after opening: {closed}/{count}")
        assert closed == count
    finally:
        for sock in socks:
            sock.close()


def test_a_recorded_header_past_its_limit_is_refused_and_not_stored(served: ServedGateway) -> None:
    context = "C" * 40_000
    response = exchange(
        served.port,
        http_request(
            "POST",
            "/v1/chat/completions",
            [AUTH, ("content-type", "application/json"), ("x-llmgate-context", context)],
            chat_body("with a huge context"),
        ),
    )
    assert response.status == 431
    error = error_of(response.body)
    assert error["param"] == "x-llmgate-context" and "x-llmgate-context" in str(error["message"])
    assert error["type"] == "invalid_request_error"

    tags = exchange(
        served.port,
        http_request("POST", "/v1/chat/completions", [AUTH, ("x-llmgate-tags", "t" * 20_000)], chat_body()),
    )
    assert tags.status == 431 and error_of(tags.body)["param"] == "x-llmgate-tags"

    # a small context is kept; once that later record is stored, nothing holds the big one
    ok = exchange(
        served.port,
        http_request(
            "POST",
            "/v1/chat/completions",
            [AUTH, ("content-type", "application/json"), ("x-llmgate-context", "a small passage")],
            chat_body("marker"),
        ),
    )
    assert ok.status == 200
    marker = ok.headers["x-llmgate-request-id"]
    (row,) = served.rows([marker])[marker]
    assert "a small passage" in (row["metadata_json"] or "")
    assert not [r["id"] for r in served.all_rows() if context[:1000] in json.dumps(r, default=str)]


def test_pipelined_requests_past_the_header_limit_in_one_read_are_served(served: ServedGateway) -> None:
    """A guard for the limit's bookkeeping: one write holding a request with a 100 kB body and the
    next request (more than the header limit in one read, but no header block past it) is served."""
    big = chat_body("y" * 100_000)
    first = http_request("POST", "/v1/chat/completions", [AUTH], big, close=False)
    second = http_request("GET", "/health", [], close=True)
    with connect(served.port, timeout=30) as sock:
        sock.sendall(first + second)
        stream = sock.makefile("rb")
        statuses = []
        for _ in range(2):
            status_line = stream.readline()
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            stream.read(length)
            statuses.append(int(status_line.split()[1]))
    assert statuses == [200, 200]
