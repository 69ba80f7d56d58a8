"""The request path's cost in instructions, not seconds: ``request_path_cpu.py`` under callgrind.

    python benchmarks/request_path_instructions.py [--stream] [--requests 1280]

Runs ``request_path_cpu.py``'s in-process measurement twice under valgrind's callgrind (``N`` and
``3N`` requests, at once on two cores), counting instructions only while it measures (its two
``time.process_time`` calls switch callgrind on and off), and prints the difference over ``2N``:
instructions a request, start-up and the switching cancelled out. Give it another tree's ``src``
on ``PYTHONPATH`` to compare two trees.

Why it exists: on some of the 2-core machines here a CPU loop's speed moves by 70% from one second
to the next, so timings of a few µs say nothing; instruction counts repeat to within a few hundred
a request. They weigh every instruction alike (a cache miss, a system call's time in the kernel
are not in them), so confirm a gain with ``gateway_ab.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import request_path_cpu

_TOTAL = re.compile(rb"^totals: (\d+)", re.MULTILINE)


class _Switch:
    """``time`` for ``request_path_cpu``: its first ``process_time`` turns callgrind's counting on,
    its second off."""

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)

    def process_time(self) -> float:
        self.calls += 1
        state = "on" if self.calls == 1 else "off"
        subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], capture_output=True, check=False)
        return time.process_time()


def _child(requests: int, stream: bool) -> None:
    request_path_cpu.time = _Switch()  # type: ignore[assignment]
    args = argparse.Namespace(requests=requests, stream=stream, asgi=False, no_gateway=False)
    request_path_cpu.uvloop.run(request_path_cpu.measure(args))


def _counted(out: Path) -> int:
    return int(_TOTAL.search(out.read_bytes()).group(1))  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--requests", type=int, default=1280, help="N: the runs serve N and 3N")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child, args.stream)
        return
    work = Path(tempfile.mkdtemp())
    runs = []
    for count in (args.requests, 3 * args.requests):
        out = work / f"callgrind.{count}"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            f"--child={count}",
            *(["--stream"] if args.stream else []),
        ]
        runs.append((out, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    for _, process in runs:
        if process.wait() != 0:
            raise SystemExit("a callgrind run failed (is valgrind installed?)")
    (small, _), (large, _) = runs
    each = (_counted(large) - _counted(small)) / (2 * args.requests)
    kind = "streamed" if args.stream else "plain"
    print(f"{kind}, direct, server and gateway: {each:,.0f} instructions a request")


if __name__ == "__main__":
    main()
