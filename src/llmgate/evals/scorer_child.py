"""The scorer process's side (``python -m llmgate.evals.scorer_child``; see ``scorer_process.py``).

Loads the evals' embedder, says ``("ready", None)`` (or ``("error", reason)`` and exits), then
answers each batch of ``(spec, check)`` items on its stdin with ``("ok", outcomes)`` from
``assertions.evaluate_batch``, until its stdin closes. Its stdout carries only frames: anything
else printed while it works goes to stderr.
"""

from __future__ import annotations

import sys

from llmgate.errors import ConfigError
from llmgate.evals.assertions import evaluate_batch
from llmgate.evals.scorer_process import read_frame, write_frame
from llmgate.quality.embedder import default_embedder

__all__ = ["main"]


def main() -> int:
    """Serve the parent until its pipe closes; the exit code."""
    frames_in, frames_out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the frames
    try:
        default_embedder().load()
    except ConfigError as exc:
        write_frame(frames_out, ("error", exc.message))
        return 1
    write_frame(frames_out, ("ready", None))
    while True:
        try:
            items = read_frame(frames_in)
        except EOFError:
            return 0
        try:
            outcomes = evaluate_batch(items)
        except Exception as exc:  # not a scorer's error (those are outcomes): tell the parent, go on
            write_frame(frames_out, ("error", f"{type(exc).__name__}: {exc}"))
        else:
            write_frame(frames_out, ("ok", outcomes))


if __name__ == "__main__":
    sys.exit(main())
