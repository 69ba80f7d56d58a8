"""The upstream call's cost in instructions: the gateway's provider over aiohttp, against nginx.

    python benchmarks/upstream_call_instructions.py [--stream] [--calls 800]

``request_path_instructions.py`` cans the upstream's answer at the provider's HTTP call, so what
the pooled aiohttp client does for each request (building the request, the timeouts' timers,
writing it, parsing the answer's head and reading its body) is not in its count. This counts
that part alone: ``run.py``'s chat request sent by ``OpenAICompatProvider`` (``send``, or
``open_stream`` with the stream read to its end) to ``run.py``'s nginx upstream, on 8 keep-alive
connections at once, under valgrind's callgrind (``N`` and ``3N`` calls, at once on two cores),
counting only while it measures, and prints the difference over ``2N``. Give it another tree's
``src`` on ``PYTHONPATH`` to compare two trees.

Why it exists: the client's part of a request is about as large as everything else the gateway
does for it in its process, and timings of a few µs say nothing on the 2-core machines here.
"""

from __future__ import annotations

import argparse
import asyncio

import uvloop
from _common import callgrind_counting, callgrind_instructions
from run import WORK, Nginx, gateway_config

from llmgate.config import build_deployments, parse_config
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.openai_compat import OpenAICompatProvider

TIMEOUT_S = 600.0  # the default: past aiohttp's ceiling threshold, as in production
AT_ONCE = 8  # calls in flight
WARM = 50  # calls on each connection before counting


async def _calls(calls: int, port: int, stream: bool) -> None:
    deployments = build_deployments(parse_config(gateway_config(port, None)))
    deployment = deployments[1] if stream else deployments[0]  # bench-stream, bench-model
    body = {
        "model": "bench-upstream",
        "stream": stream,
        "messages": [{"role": "user", "content": "Write one sentence about the sea."}],
    }
    provider = OpenAICompatProvider(pool_size=512)

    async def one() -> None:
        if not stream:
            await provider.send(deployment, Endpoint.CHAT, body, timeout=TIMEOUT_S)
            return
        async for _ in await provider.open_stream(deployment, Endpoint.CHAT, body, timeout=TIMEOUT_S):
            pass

    async def some(count: int) -> None:
        for _ in range(count):
            await one()

    await asyncio.gather(*(some(WARM) for _ in range(AT_ONCE)))
    callgrind_counting("on")
    await asyncio.gather(*(some(calls // AT_ONCE) for _ in range(AT_ONCE)))
    callgrind_counting("off")
    await provider.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--calls", type=int, default=800, help="N: the runs make N and 3N calls")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        uvloop.run(_calls(args.child, args.port, args.stream))
        return
    calls = args.calls - args.calls % AT_ONCE
    WORK.mkdir(parents=True, exist_ok=True)
    nginx = Nginx()
    nginx.start()
    try:
        small, large = callgrind_instructions(
            __file__,
            [
                [f"--child={count}", f"--port={nginx.port}", *(["--stream"] if args.stream else [])]
                for count in (calls, 3 * calls)
            ],
        )
    finally:
        nginx.stop()
    kind = "streamed" if args.stream else "plain"
    print(f"{kind}, the provider's upstream call: {(large - small) / (2 * calls):,.0f} instructions a call")


if __name__ == "__main__":
    main()
