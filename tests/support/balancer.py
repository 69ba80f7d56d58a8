"""A round-robin TCP balancer on loopback, in front of several gateway replicas.

Each new client connection goes to the next backend in turn; a backend that refuses the
connection (a replica that was killed) is skipped and the next one tried, as a load balancer's
passive health check does. Bytes are pumped both ways until either side closes. It runs its own
event loop in a thread, like ``tcp_proxy.TcpProxy``.

    with RoundRobinBalancer([("127.0.0.1", 4001), ("127.0.0.1", 4002)]) as balancer:
        url = f"http://127.0.0.1:{balancer.port}"
        balancer.connections  # {backend index: connections it was given}
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections import Counter
from types import TracebackType

from support.tcp_proxy import _pump


class RoundRobinBalancer:
    def __init__(self, backends: list[tuple[str, int]], *, host: str = "127.0.0.1") -> None:
        self.backends = backends
        self.host = host
        self.port = 0
        self.connections: Counter[int] = Counter()  # backend index -> connections handed to it
        self.refused: Counter[int] = Counter()  # backend index -> connections it refused
        self._turn = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="balancer", daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()

    def start(self) -> RoundRobinBalancer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> RoundRobinBalancer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        links = list(self._links)
        for link in links:
            link.cancel()
        await asyncio.gather(*links, return_exceptions=True)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The next backend in turn that accepts a connection (None when none does)."""
        first = next(self._turn)
        for step in range(len(self.backends)):
            index = (first + step) % len(self.backends)
            try:
                pair = await asyncio.open_connection(*self.backends[index])
            except OSError:
                self.refused[index] += 1
                continue
            self.connections[index] += 1
            return pair
        return None

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            pair = await self._connect()
            if pair is not None:
                upstream_reader, upstream_writer = pair
                await asyncio.gather(
                    _pump(client_reader, upstream_writer), _pump(upstream_reader, client_writer)
                )
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._links.discard(task)
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    with contextlib.suppress(Exception):
                        writer.transport.abort()
