"""The embedder's assertions scored in a process of their own, loaded while the run starts.

``llmgate eval run`` of a suite with ``grounded`` spends most of its start-up importing torch and
sentence-transformers and loading the model (about 5 s on 2 cores), and its scoring (Python and
forward passes) shares one interpreter lock with the model calls and, with ``--config``, with the
gateway itself. ``ScorerProcess`` starts ``python -m llmgate.evals.scorer_child`` at once (the set-up
checks do, ``preflight.check_extras``); the child loads the embedder while this process starts the
gateway and sends the first model calls, then scores the batches the runner's ``BatchScorer``
hands it (``score``) on the other core. The outcomes are those of ``assertions.evaluate_batch`` in
this process: the child runs the same code on the same batch-invariant embedder.

- ``wait_ready``: blocks until the child has loaded the embedder; a child that cannot (the quality
  extra missing, a model that does not load) is a ``ConfigError`` with its one-line reason, as the
  same failure in this process would be. The runner waits for it before storing the run, so a run
  that cannot be scored is never stored.
- ``score``: one batch of ``(spec, check)`` items (checks ``detached``: no model calls cross the
  pipe) to its outcomes, in order. Called from one thread at a time (the scorer's worker).
- ``close``: the child exits when its input closes (also when this process dies: its stdin is a
  pipe from here); ``close`` waits a moment, then kills it.

Frames on the pipes are a 4-byte big-endian length and a pickle (parent and child are the same
program, the same user: nothing else writes these pipes). The child's stderr goes to a temporary
file whose last line explains an unexpected exit.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from typing import IO, Any

from llmgate.errors import ConfigError
from llmgate.evals.assertions import AssertionSpec, Check, Outcome

__all__ = ["ScorerProcess", "read_frame", "write_frame"]

_HEADER = struct.Struct(">I")
CHILD_MODULE = "llmgate.evals.scorer_child"


def write_frame(stream: IO[bytes], message: object) -> None:
    """One message on ``stream``: its length, then its pickle."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next message on ``stream``; ``EOFError`` when it has closed."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    size = _HEADER.unpack(header)[0]
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return pickle.loads(body)


class ScorerProcess:
    """A child process that loads the embedder and scores batches; see the module doc.

    ``what`` starts its error messages (``"suite 'qa' uses grounded"``).
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._lock = threading.Lock()
        self._ready: str | bool | None = False  # False: not known yet; None: ready; str: why not
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - the child's, closed by close()
        # the child finds llmgate (and anything this process was given on its path) as this one does
        path = os.pathsep.join(entry for entry in sys.path if entry)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", CHILD_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, "PYTHONPATH": path},
        )

    def wait_ready(self) -> None:
        """Block until the child has loaded the embedder; ``ConfigError`` when it cannot."""
        with self._lock:
            if self._ready is False:
                try:
                    kind, detail = self._receive()
                except ConfigError as exc:
                    self._ready = exc.message
                else:
                    self._ready = None if kind == "ready" else str(detail)
        if isinstance(self._ready, str):
            raise ConfigError(f"{self.what}: {self._ready}")

    def score(self, items: Sequence[tuple[AssertionSpec, Check]]) -> list[Outcome]:
        """The outcomes of ``items`` (one batchable assertion type), scored by the child."""
        self.wait_ready()
        with self._lock:
            assert self._proc.stdin is not None
            try:
                write_frame(self._proc.stdin, [(spec, check.detached()) for spec, check in items])
            except OSError:
                raise ConfigError(f"{self.what}: {self._ended()}") from None
            kind, detail = self._receive()
        if kind != "ok":
            raise ConfigError(f"{self.what}: {detail}")
        outcomes: list[Outcome] = detail
        return outcomes

    def _receive(self) -> tuple[str, Any]:
        assert self._proc.stdout is not None
        try:
            message: tuple[str, Any] = read_frame(self._proc.stdout)
        except EOFError:
            raise ConfigError(self._ended()) from None
        return message

    def _ended(self) -> str:
        """Why the child is gone: the last line it wrote to stderr, else its exit code."""
        code = self._proc.wait(timeout=10)
        self._stderr.seek(0)
        lines = [line.strip() for line in self._stderr.read().decode("utf-8", "replace").splitlines()]
        last = next((line for line in reversed(lines) if line), "")
        return f"the scorer process ended (exit code {code}){': ' + last if last else ''}"

    def close(self) -> None:
        """End the child: close its input, wait up to 5 s, then kill it."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with contextlib.suppress(OSError):  # a child that is gone already
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> ScorerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
