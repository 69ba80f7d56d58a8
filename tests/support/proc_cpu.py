"""CPU time of a process and everything below it, from Linux ``/proc/<pid>/stat``."""

from __future__ import annotations

import os
from pathlib import Path

#: clock ticks per second, the unit of the CPU times in ``/proc/<pid>/stat``
TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int]:
    """(parent pid, utime + stime in clock ticks) of ``pid``."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), int(fields[11]) + int(fields[12])


def tree(root: int) -> list[int]:
    """``root`` and every live process below it."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = _stat(int(entry.name))[0]
            except (OSError, ValueError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def ticks(pids: list[int]) -> int:
    """The CPU time (user + system, clock ticks) of ``pids`` together; gone processes count 0."""
    total = 0
    for pid in pids:
        try:
            total += _stat(pid)[1]
        except (OSError, ValueError):
            continue
    return total
