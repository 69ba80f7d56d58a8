"""Leader election on one host: an exclusive ``flock`` on a file in the spill directory.

Background jobs that must run once per host however many gateway workers there are (eval
schedules, the live monitor) each take a lock file; the process holding it does the work, the
others retry now and then and take over when the holder exits (the kernel drops the lock with
the process, so a crash never leaves a stale lock behind).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FileLock"]


class FileLock:
    """An exclusive, non-blocking ``flock`` on a file, held until released or the process exits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        # fcntl: POSIX only, off importing this module on other platforms
        import fcntl

        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None
