"""``llmgate.monitors.enabled``: ``llmgate serve`` runs the monitor worker as a child process.

The monitor embeds text with torch: on the gateway's event loop, or even in its process, that
would take CPU and GIL time from requests. So each gateway worker tries a host-wide lock
(``<spill_dir>/monitor-spawn.lock``); the one that holds it starts ``llmgate monitor`` with the
same config at the lowest CPU priority (SCHED_IDLE; ``--nice`` where that is missing),
restarts it if it dies (with a growing pause),
and stops it (SIGTERM, then SIGKILL) when the gateway shuts down. The others retry the lock every
``retry_s`` and take over if that worker exits. Nothing here is on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path

from llmgate.telemetry.leader import FileLock

log = logging.getLogger("llmgate.monitors")

__all__ = ["MonitorProcess"]


class MonitorProcess:
    """Supervises one ``llmgate monitor`` child; see the module docstring."""

    def __init__(
        self, config_path: str, spill_dir: Path, *, log_level: str = "info", retry_s: float = 15.0
    ) -> None:
        self.config_path = config_path
        self.log_level = log_level
        self.retry_s = retry_s
        self._lock = FileLock(spill_dir / "monitor-spawn.lock")
        self._task: asyncio.Task[None] | None = None
        self._child: asyncio.subprocess.Process | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="llmgate-monitor")

    async def _supervise(self) -> None:
        while not self._lock.acquire():  # noqa: ASYNC110 (polling a file lock, not waiting for an event)
            await asyncio.sleep(self.retry_s)
        pause = 1.0
        while True:
            command = [
                sys.executable,
                "-m",
                "llmgate.cli.main",
                "monitor",
                "--config",
                self.config_path,
                "--log-level",
                self.log_level,
            ]
            self._child = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL)
            log.info("monitor process %d started", self._child.pid)
            began = asyncio.get_running_loop().time()
            code = await self._child.wait()
            lived = asyncio.get_running_loop().time() - began
            pause = 1.0 if lived > 60 else min(pause * 2, 60.0)
            log.warning("monitor process exited with code %s; restarting in %.0f s", code, pause)
            await asyncio.sleep(pause)

    async def stop(self, grace_s: float = 5.0) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        child = self._child
        if child is not None and child.returncode is None:
            child.terminate()
            try:
                await asyncio.wait_for(child.wait(), grace_s)
            except TimeoutError:
                child.kill()
                await child.wait()
        self._lock.release()
