"""Raw HTTP/1.1 over sockets, for what HTTP clients cannot send.

The security tests attack the gateway the way a hostile client would: unterminated or duplicated
headers, bytes trickled one at a time, connections left half-sent. HTTP client libraries refuse
to do most of that, so these helpers speak HTTP/1.1 byte for byte.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def connect(port: int, timeout: float = 5) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def readable(sock: socket.socket, timeout: float) -> bool:
    return bool(select.select([sock], [], [], timeout)[0])


def read_response(sock: socket.socket, timeout: float = 5) -> RawResponse | None:
    """One response from ``sock`` (``None`` if the peer closed before sending one)."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return RawResponse(int(status_line.split()[1]), headers, body)


def closed_by_peer(sock: socket.socket, timeout: float = 3) -> bool:
    """Whether the server closes ``sock`` within ``timeout`` (what it still sends is dropped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not readable(sock, max(0.0, deadline - time.monotonic())):
            return False
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def exchange(port: int, request: bytes, timeout: float = 10) -> RawResponse:
    """Send ``request`` as is on a new connection and read the answer."""
    with connect(port, timeout) as sock:
        sock.sendall(request)
        response = read_response(sock, timeout)
    assert response is not None, "the connection closed without an answer"
    return response


def http_request(
    method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"", *, close: bool = True
) -> bytes:
    """An HTTP/1.1 request, byte for byte: headers in order, repeats kept."""
    lines = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"content-length: {len(body)}")
    if close:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
