"""The proxy routes served by the edge protocol without ASGI (``server/direct.py``).

Through a real ``llmgate serve`` process and raw sockets, so the bytes on the wire are what is
compared. A request with ``Expect: 100-continue`` still takes the ASGI application, so the two
paths answer the same request side by side. They must give the same head, the same body and the
same record. HTTP/1.1's connection rules must hold on the direct path too: keep-alive, pipelining,
HTTP/1.0 and ``Connection: close``.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import pytest

from llmgate.gateway import StreamReply
from llmgate.server.direct import _head
from llmgate.server.direct import _relay as direct_relay
from llmgate.server.relay import send_stream
from support.configs import MASTER_KEY
from support.raw_http import RawResponse, closed_by_peer, connect, http_request
from support.served import ServedGateway

AUTH = ("authorization", f"Bearer {MASTER_KEY}")
JSON = ("content-type", "application/json")
#: headers that differ between any two answers
VARYING = {"date", "x-llmgate-request-id", "content-length"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    config = {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gateway = ServedGateway(config, tmp_path_factory.mktemp("direct")).start()
    yield gateway
    gateway.stop()


def chat(text: str, *, stream: bool = False) -> bytes:
    body = {"model": "mock-echo", "messages": [{"role": "user", "content": text}], "stream": stream}
    return json.dumps(body).encode()


class Reader:
    """Answers read off one connection in order, with what one read holds past an answer kept."""

    def __init__(self, sock: socket.socket, timeout: float = 10) -> None:
        self.sock, self.data = sock, b""
        self.deadline = time.monotonic() + timeout

    def _more(self) -> None:
        self.sock.settimeout(max(0.01, self.deadline - time.monotonic()))
        chunk = self.sock.recv(65536)
        assert chunk, "the connection closed without an answer"
        self.data += chunk

    def _take(self, size: int) -> bytes:
        while len(self.data) < size:
            self._more()
        taken, self.data = self.data[:size], self.data[size:]
        return taken

    def _line(self) -> bytes:
        while b"\r\n" not in self.data:
            self._more()
        line, _, self.data = self.data.partition(b"\r\n")
        return line

    def answer(self) -> RawResponse:
        """The next final answer (an interim ``100 Continue`` skipped), its body de-chunked."""
        status_line = self._line()
        headers = {}
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        if status == 100:
            return self.answer()
        if headers.get("transfer-encoding") != "chunked":
            return RawResponse(status, headers, self._take(int(headers.get("content-length", "0"))))
        body = b""
        while size := int(self._line(), 16):
            body += self._take(size)
            assert self._take(2) == b"\r\n"
        assert self._take(2) == b"\r\n"
        return RawResponse(status, headers, body)


def answer(sock: socket.socket) -> RawResponse:
    return Reader(sock).answer()


def both_ways(served: ServedGateway, body: bytes) -> tuple[RawResponse, RawResponse]:
    """The answer to ``body`` on the direct path, then through the ASGI app (``Expect``)."""
    answers = []
    for extra in ([], [("expect", "100-continue")]):
        with connect(served.port, timeout=10) as sock:
            sock.sendall(http_request("POST", "/v1/chat/completions", [AUTH, JSON, *extra], body))
            answers.append(answer(sock))
    return answers[0], answers[1]


def test_a_plain_answer_is_the_one_the_asgi_app_gives(served: ServedGateway) -> None:
    direct, asgi = both_ways(served, chat("same either way"))
    assert direct.status == asgi.status == 200
    assert list(direct.headers) == list(asgi.headers)  # the same headers, in the same order
    assert {k: v for k, v in direct.headers.items() if k not in VARYING} == {
        k: v for k, v in asgi.headers.items() if k not in VARYING
    }
    assert direct.headers["connection"] == "close"  # the request asked for it
    assert int(direct.headers["content-length"]) == len(direct.body)
    content = [json.loads(r.body)["choices"][0]["message"]["content"] for r in (direct, asgi)]
    assert content == ["same either way"] * 2
    rows = served.rows([direct.headers["x-llmgate-request-id"], asgi.headers["x-llmgate-request-id"]])
    kept = [(row["status_code"], row["response_text"]) for [row] in rows.values()]
    assert kept == [(200, "same either way")] * 2


def test_a_streamed_answer_is_the_one_the_asgi_app_gives(served: ServedGateway) -> None:
    direct, asgi = both_ways(served, chat("one two three", stream=True))
    assert direct.status == asgi.status == 200
    assert list(direct.headers) == list(asgi.headers)
    assert direct.headers["transfer-encoding"] == "chunked"
    assert direct.headers["content-type"].startswith("text/event-stream")
    events = []
    for response in (direct, asgi):
        lines = [line for line in response.body.split(b"\n") if line.startswith(b"data: ")]
        assert lines[-1] == b"data: [DONE]"
        deltas = [json.loads(line[6:])["choices"] for line in lines[:-1]]
        events.append("".join(c[0]["delta"].get("content") or "" for c in deltas if c))
    assert events[0] == events[1] == "one two three"
    rows = served.rows([r.headers["x-llmgate-request-id"] for r in (direct, asgi)])
    assert [row["status_code"] for [row] in rows.values()] == [200, 200]


def test_a_kept_alive_connection_answers_pipelined_requests_in_order(served: ServedGateway) -> None:
    with connect(served.port, timeout=10) as sock:
        requests = [
            http_request("POST", "/v1/chat/completions", [AUTH, JSON], chat(f"n{i}"), close=False)
            for i in range(3)
        ]
        sock.sendall(requests[0] + requests[1])  # two in one write: the second waits its turn
        reader = Reader(sock)
        first, second = reader.answer(), reader.answer()
        sock.sendall(requests[2])  # and the connection is still open after them
        third = reader.answer()
        assert "connection" not in third.headers
        assert not closed_by_peer(sock, timeout=0.3)
    said = [json.loads(r.body)["choices"][0]["message"]["content"] for r in (first, second, third)]
    assert said == ["n0", "n1", "n2"]


def test_an_http_1_0_request_is_answered_and_closed(served: ServedGateway) -> None:
    body = chat("old client")
    request = (
        b"POST /v1/chat/completions HTTP/1.0\r\nhost: 127.0.0.1\r\n"
        + f"authorization: Bearer {MASTER_KEY}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    with connect(served.port, timeout=10) as sock:
        sock.sendall(request)
        response = answer(sock)
        assert response.status == 200 and response.headers["connection"] == "close"
        assert closed_by_peer(sock)


def test_two_credentials_are_refused_on_the_direct_path_too(served: ServedGateway) -> None:
    headers = [AUTH, AUTH, JSON]
    with connect(served.port, timeout=10) as sock:
        sock.sendall(http_request("POST", "/v1/chat/completions", headers, chat("x")))
        response = answer(sock)
    assert response.status == 400
    assert json.loads(response.body)["error"]["code"] == "duplicate_credentials"


def test_a_header_value_uvicorn_would_refuse_is_refused() -> None:
    cycle = SimpleNamespace(default_headers=[], keep_alive=True, response_started=False)
    head = _head(cycle, 200, "application/json", {"x-ok": "fine\tvalue"}, 2)  # type: ignore[arg-type]
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"x-ok: fine\tvalue\r\n" in head
    assert head.endswith(b"content-length: 2\r\nx-ok: fine\tvalue\r\n\r\n")
    with pytest.raises(RuntimeError, match="header value"):
        _head(cycle, 200, "application/json", {"x-bad": "a\r\nset-cookie: b"}, 2)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="header name"):
        _head(cycle, 200, "application/json", {"x bad": "a"}, 2)  # type: ignore[arg-type]
    for bad in ("a\x00b", "del\x7f", "bell\x07"):  # printable text is let through unsearched; these are not
        with pytest.raises(RuntimeError, match="header value"):
            _head(cycle, 200, "application/json", {"x-ok": bad}, 2)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="header value"):
        _head(cycle, 200, "text/plain\n", {}, 2)  # type: ignore[arg-type]
    latin = _head(cycle, 200, "application/json", {"X-Name": "caf\xe9\xa0ok"}, 2)  # type: ignore[arg-type]
    assert "x-name: caf\xe9\xa0ok\r\n".encode("latin-1") in latin  # a name as written: lowercased
    for _ in range(2):  # a name refused once is refused again (never remembered as checked)
        with pytest.raises(RuntimeError, match="header name"):
            _head(cycle, 200, "application/json", {"x(bad)": "a"}, 2)  # type: ignore[arg-type]
    closing = SimpleNamespace(default_headers=[(b"server", b"uvicorn")], keep_alive=False)
    head = _head(closing, 200, "text/event-stream", {}, None)  # type: ignore[arg-type]
    assert head.endswith(b"connection: close\r\ntransfer-encoding: chunked\r\n\r\n")
    assert b"\r\nserver: uvicorn\r\ncontent-type: text/event-stream\r\n" in head


def _gateway_like_stream(seen: list[str]) -> StreamReply:
    """A stream whose generator notes, as the gateway's records the call, how it ended."""

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"data: {}\n\n"
            seen.append("ended")
        except BaseException:
            seen.append("client closed")
            raise
        finally:
            seen.append("recorded")

    return StreamReply(chunks())


@pytest.mark.asyncio
async def test_a_stream_whose_client_left_before_its_first_byte_is_still_recorded() -> None:
    """The client left after the upstream answered but before the relay began: the stream's
    generator still runs its end (the gateway's record, 499) on both the direct and the ASGI path."""
    seen: list[str] = []
    cycle = SimpleNamespace(disconnected=True)
    await direct_relay(cycle, _gateway_like_stream(seen))  # type: ignore[arg-type]
    assert seen == ["client closed", "recorded"]

    async def gone(message: object) -> None:
        raise OSError("the client went away")

    async def receive() -> dict[str, str]:
        return {"type": "http.disconnect"}

    seen.clear()
    await send_stream(_gateway_like_stream(seen), receive, gone)
    assert seen == ["client closed", "recorded"]
