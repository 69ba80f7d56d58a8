"""The edge's corked writer: what a response cycle writes in one turn of the loop leaves in one send,
in order, and nothing is held past the turn or lost at close."""

from __future__ import annotations

import asyncio
from typing import Any

from llmgate.server.edge import CorkedWriter


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


async def test_writes_of_one_turn_leave_together_and_the_next_turn_separately() -> None:
    transport = RecordingTransport()
    writer = CorkedWriter(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
    writer.write(b"{}")
    assert transport.writes == []  # held until the end of the turn
    await asyncio.sleep(0)
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    writer.write(b"next")
    await asyncio.sleep(0)
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}", b"next"]
    assert writer.get_extra_info("peername") == ("127.0.0.1", 1)


async def test_close_and_flush_send_what_is_held_first() -> None:
    transport = RecordingTransport()
    writer = CorkedWriter(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    writer.write(b"a")
    writer.flush()  # the protocol flushes before writing on its own (a refusal)
    transport.write(b"b")
    writer.write(b"c")
    writer.close()
    assert transport.writes == [b"a", b"b", b"c"] and transport.closed and writer.is_closing()
    await asyncio.sleep(0)  # the scheduled flush finds nothing left, and a closed transport
    assert transport.writes == [b"a", b"b", b"c"]
