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
import time

import request_path_cpu
from _common import callgrind_counting, callgrind_instructions


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
        callgrind_counting(state)
        return time.process_time()


def _child(requests: int, stream: bool) -> None:
    request_path_cpu.time = _Switch()  # type: ignore[assignment]
    args = argparse.Namespace(requests=requests, stream=stream, asgi=False, no_gateway=False)
    request_path_cpu.uvloop.run(request_path_cpu.measure(args))


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
    small, large = callgrind_instructions(
        __file__,
        [
            [f"--child={count}", *(["--stream"] if args.stream else [])]
            for count in (args.requests, 3 * args.requests)
        ],
    )
    each = (large - small) / (2 * args.requests)
    kind = "streamed" if args.stream else "plain"
    print(f"{kind}, direct, server and gateway: {each:,.0f} instructions a request")


if __name__ == "__main__":
    main()
