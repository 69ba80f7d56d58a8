"""Spill files: the recorder's append-only, crash-safe place for records the store cannot take.

One JSON row per line, fsynced after every append, in ``spill_dir/spill-<pid>-<random>.jsonl``.
Several processes on one host may share a spill directory: the writing process holds an
``flock`` on its open file; replaying means taking the lock on a file nobody holds, renaming it
to ``<name>.replaying-<pid>`` (the claim) and deleting it only after its rows are stored. A claim
left by a dead process has no lock holder and is claimed again, so a crash mid-replay costs a
replay, never a duplicate (inserts are idempotent). POSIX only (``fcntl``). Every method runs in
the recorder's one spill thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import orjson

from llmgate.recording.degrade import degraded_row, reason_of

Row = dict[str, Any]
#: A ``.creating`` file this old belongs to nobody (creation takes microseconds).
_STALE_CREATING_S = 60.0

# --- spill files (every method runs in the one spill thread) ----------------------------------


def _dump(row: Row) -> bytes:
    """One JSON line: Decimal as a string, datetimes ISO 8601 with offset (naive taken as UTC)."""
    try:
        return orjson.dumps(
            row, default=_json_default, option=orjson.OPT_NAIVE_UTC | orjson.OPT_APPEND_NEWLINE
        )
    except (TypeError, orjson.JSONEncodeError):  # an exotic value: keep the record, as text
        return json.dumps(row, default=str).encode() + b"\n"


def _dump_or_degrade(row: Row) -> tuple[bytes, bool]:
    """``_dump(row)``, or its degraded form when not even text will do (nested too deep)."""
    try:
        return _dump(row), False
    except (RecursionError, ValueError, TypeError) as exc:
        return _dump(degraded_row(row, reason_of(exc, "could not be written to a spill file"))), True


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):  # pragma: no cover - orjson serialises datetimes itself
        return value.isoformat()
    return str(value)


def _lock(fd: int, *, wait: bool) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@dataclass
class Claim:
    """A spill file this process holds the lock on and has renamed to ``*.replaying-<pid>``."""

    path: Path
    file: IO[bytes]
    rehydrate: Callable[[Row], Row]

    def read(self, limit: int) -> tuple[list[Row], list[bytes]]:
        rows: list[Row] = []
        bad: list[bytes] = []
        while len(rows) + len(bad) < limit:
            line = self.file.readline()
            if not line:
                break
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
                if not isinstance(row, dict):
                    raise TypeError("not an object")
                rows.append(self.rehydrate(row))
            except (orjson.JSONDecodeError, TypeError, ValueError, ArithmeticError):
                bad.append(line.rstrip(b"\n"))
        return rows, bad

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)  # still under our lock: nobody else can have claimed it

    def release(self) -> None:
        self.file.close()


class SpillDir:
    def __init__(self, path: Path, rehydrate: Callable[[Row], Row]) -> None:
        self.path = path
        self._rehydrate = rehydrate
        self._fd: int | None = None  # our open, locked spill file
        self._fd_bytes = 0
        self._rejected_fd: int | None = None
        self._rejected_name = ""
        self.degraded = 0  # rows spilled in degraded form
        # Normally only the spill thread writes; after stop() the event loop may too.
        self._lock = threading.Lock()

    def ensure_dir(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)

    # writing

    def append(self, rows: list[Row]) -> None:
        if not rows:
            return
        lines = [_dump_or_degrade(row) for row in rows]
        data = b"".join(line for line, _ in lines)
        with self._lock:
            self._append(data)
            self.degraded += sum(degraded for _, degraded in lines)

    def probe(self) -> None:
        """Open our next spill file now (raises ``OSError`` while the directory takes no files)."""
        with self._lock:
            if self._fd is None:
                self._fd = self._create()
                self._fd_bytes = 0

    def _append(self, data: bytes) -> None:
        if self._fd is None:
            self._fd = self._create()
            self._fd_bytes = 0
        try:
            _write_all(self._fd, data)
            os.fsync(self._fd)
        except OSError:
            self._seal()  # a torn last line stays at the end of that file, where replay skips it
            raise
        self._fd_bytes += len(data)

    def seal(self) -> bool:
        """Close (and unlock) our spill file so it can be replayed; whether there was one with data."""
        with self._lock:
            return self._seal()

    def _seal(self) -> bool:
        fd, self._fd = self._fd, None
        if fd is None:
            return False
        os.close(fd)
        return self._fd_bytes > 0

    def reject(self, rows: list[Row]) -> str:
        return self.reject_lines([_dump_or_degrade(row)[0].rstrip(b"\n") for row in rows])

    def reject_lines(self, lines: list[bytes]) -> str:
        with self._lock:
            return self._reject_lines(lines)

    def _reject_lines(self, lines: list[bytes]) -> str:
        if self._rejected_fd is None:
            self.ensure_dir()
            self._rejected_name = f"rejected-{os.getpid()}-{secrets.token_hex(6)}.jsonl"
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
            self._rejected_fd = os.open(self.path / self._rejected_name, flags, 0o600)
        _write_all(self._rejected_fd, b"".join(line + b"\n" for line in lines))
        os.fsync(self._rejected_fd)
        return str(self.path / self._rejected_name)

    def close(self) -> None:
        with self._lock:
            self._seal()
            if self._rejected_fd is not None:
                os.close(self._rejected_fd)
                self._rejected_fd = None

    def _create(self) -> int:
        self.ensure_dir()
        while True:
            stem = f"spill-{os.getpid()}-{secrets.token_hex(6)}"
            temporary = self.path / f".{stem}.creating"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
            fd = os.open(temporary, flags, 0o600)
            _lock(fd, wait=True)  # taken before the name makes it a candidate for replay
            try:
                os.rename(temporary, self.path / f"{stem}.jsonl")
            except FileNotFoundError:  # a cleaner took it for stale: start again
                os.close(fd)
                continue
            _fsync_dir(self.path)
            return fd

    # replaying

    def claim_next(self) -> Claim | None:
        """Claim the oldest spill file nobody holds, or ``None``."""
        for path in self._candidates():
            claim = self._claim(path)
            if claim is not None:
                return claim
        return None

    def _candidates(self) -> list[Path]:
        found: list[tuple[float, Path]] = []
        now = time.time()
        for entry in self._scan():
            name = entry.name
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:
                continue
            if name.startswith("spill-") or (
                name.startswith(".spill-") and name.endswith(".creating") and now - mtime > _STALE_CREATING_S
            ):
                found.append((mtime, Path(entry.path)))
        return [path for _, path in sorted(found)]

    def _claim(self, path: Path) -> Claim | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            if not _lock(fd, wait=False):
                os.close(fd)  # a live process writes or replays it
                return None
            opened, current = os.fstat(fd), os.stat(path)
            if (opened.st_ino, opened.st_dev) != (current.st_ino, current.st_dev):
                os.close(fd)  # renamed or replaced since we opened it
                return None
            name = path.name
            if name.endswith(".creating"):
                name = name[1 : -len(".creating")] + ".jsonl"
            claimed = path.with_name(f"{name.split('.replaying-')[0]}.replaying-{os.getpid()}")
            if claimed != path:
                os.rename(path, claimed)
        except FileNotFoundError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return Claim(claimed, os.fdopen(fd, "rb"), self._rehydrate)

    # accounting

    def usage(self) -> tuple[int, int]:
        files = size = 0
        for entry in self._scan():
            if entry.name.startswith("spill-"):
                with contextlib.suppress(FileNotFoundError):
                    size += entry.stat().st_size
                    files += 1
        return files, size

    def _scan(self) -> Iterator[os.DirEntry[str]]:
        try:
            with os.scandir(self.path) as entries:
                yield from entries
        except FileNotFoundError:
            return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
