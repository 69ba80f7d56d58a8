"""``llmgate serve`` as its own process, the way a user runs it: its URL, its store's rows, its RSS.

The process is what a user runs (the writer process included), on a SQLite store unless the config
names another; records are read straight from the SQLite file, read-only, polling until the writer
has stored what a test waits for.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from llmgate.store.bodies import unpack
from support.gateway import free_port

LLMGATE = [sys.executable, "-m", "llmgate.cli.main"]

#: records reach the store within a few flushes
FAST_RECORDER = {"flush_interval_s": 0.05, "batch_size": 64}


class ServedGateway:
    """A ``llmgate serve`` process on a free loopback port, its SQLite store and log in ``tmp_path``.

    ``config["llmgate"]`` wins over the defaults (a SQLite store and spill directory in ``tmp_path``,
    a recorder that flushes every 50 ms); ``config`` itself is left as it was.
    """

    def __init__(self, config: dict[str, Any], tmp_path: Path, env: dict[str, str] | None = None) -> None:
        settings: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'llmgate.db'}",
            "spill_dir": str(tmp_path / "spill"),
            "recorder": FAST_RECORDER,
        }
        settings.update(config.get("llmgate") or {})
        self.database = Path(settings["database_url"].removeprefix("sqlite:///"))
        self.config_path = tmp_path / "config.yaml"
        self.config_path.write_text(yaml.safe_dump({**config, "llmgate": settings}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "serve.log"
        self._env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, seconds: float = 30) -> ServedGateway:
        """Start ``llmgate serve`` and wait until ``/health`` answers."""
        command = [*LLMGATE, "serve", "--config", str(self.config_path), "--port", str(self.port)]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [*command, "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, env=self._env
            )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "llmgate serve exited:\n" + self.output()
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError("llmgate serve never became healthy:\n" + self.output())

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_bytes(self) -> int:
        """The gateway process's resident set size, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc status")

    def rows(
        self, request_ids: Iterable[str], timeout: float = 20, *, missing_ok: bool = False
    ) -> dict[str, list[dict[str, Any]]]:
        """The stored rows of each of ``request_ids`` (``requests`` table), waiting until each has one.

        After ``timeout`` seconds: an AssertionError naming the ids with no row, or with ``missing_ok``
        what was stored by then (an empty list for the others).
        """
        wanted = list(dict.fromkeys(request_ids))
        deadline = time.monotonic() + timeout
        while True:
            found = {request_id: [] for request_id in wanted} | self._read(wanted)
            missing = [request_id for request_id, rows in found.items() if not rows]
            if not missing:
                return found
            if time.monotonic() > deadline:
                if missing_ok:
                    return found
                raise AssertionError(f"no stored row for {missing} after {timeout} s")
            time.sleep(0.05)

    def all_rows(self) -> list[dict[str, Any]]:
        """Every stored row of the ``requests`` table."""
        with self._connect() as db:
            return [_as_text(row) for row in db.execute("SELECT * FROM requests").fetchall()]

    def _read(self, request_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        if not self.database.exists() or not request_ids:
            return found
        try:
            with self._connect() as db:
                for start in range(0, len(request_ids), 500):
                    part = request_ids[start : start + 500]
                    marks = ",".join("?" * len(part))
                    for row in db.execute(f"SELECT * FROM requests WHERE id IN ({marks})", part):
                        found.setdefault(row["id"], []).append(_as_text(row))
        except sqlite3.OperationalError:  # not migrated yet, or busy: poll again
            return {}
        return found

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """The store, read-only."""
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5)) as db:
            db.row_factory = sqlite3.Row
            yield db

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _as_text(row: sqlite3.Row) -> dict[str, Any]:
    """The row with its bodies as the store reads them (they are stored packed: store/bodies.py)."""
    out = dict(row)
    for column in ("request_json", "response_text", "tool_calls_json"):
        if out.get(column) is not None:
            out[column] = unpack(out[column])
    return out
