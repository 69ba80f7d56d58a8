"""What ``docker build .`` sends: ``.dockerignore`` keeps the virtual environment, version control,
caches and every store (recorded prompts) out of the build context, and the Dockerfile copies only
what the image needs.

No Docker engine is needed: ``_Ignore`` follows Docker's own matcher (moby/patternmatcher, as the
``docker`` client uses it for ``.dockerignore``): patterns are cleaned paths relative to the context,
``*`` and ``?`` stay within one path segment, ``**`` spans any number of them, a pattern also
matches a file when it matches one of the file's parent directories, ``!`` re-includes, and the
last pattern that matches decides. Unlike ``.gitignore``, ``*.db`` matches at the top only.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class _Ignore:
    def __init__(self, text: str) -> None:
        self.patterns: list[tuple[bool, re.Pattern[str]]] = []
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            pattern = line.strip()
            if not pattern:
                continue
            exclusion = pattern.startswith("!")
            if exclusion:
                pattern = pattern[1:].strip()
            pattern = posixpath.normpath(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
            self.patterns.append((exclusion, re.compile(self._regex(pattern))))

    @staticmethod
    def _regex(pattern: str) -> str:
        out, i = "^", 0
        while i < len(pattern):
            ch = pattern[i]
            if pattern.startswith("**", i):
                i += 2
                if pattern[i : i + 1] == "/":
                    i += 1
                out += ".*" if i >= len(pattern) else "(.*/)?"
                continue
            if ch == "*":
                out += "[^/]*"
            elif ch == "?":
                out += "[^/]"
            elif ch == "\\" and i + 1 < len(pattern):
                i += 1
                out += re.escape(pattern[i])
            elif ch in ".+()|{}$^":
                out += "\\" + ch
            else:
                out += ch
            i += 1
        return out + "$"

    def excluded(self, path: str) -> bool:
        parents = posixpath.dirname(path).split("/") if "/" in path else []
        matched = False
        for exclusion, regex in self.patterns:
            if exclusion != matched:
                continue
            hit = bool(regex.match(path)) or any(
                regex.match("/".join(parents[: i + 1])) for i in range(len(parents))
            )
            if hit:
                matched = not exclusion
        return matched

    def context(self, root: Path) -> list[str]:
        """The files ``docker build root`` sends (directories left out whole are not walked)."""
        sent = []
        for folder, dirs, files in os.walk(root):
            rel = os.path.relpath(folder, root)
            prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            dirs[:] = [d for d in dirs if not self.excluded(prefix + d)]
            sent += [prefix + name for name in files if not self.excluded(prefix + name)]
        return sent


IGNORE = _Ignore((ROOT / ".dockerignore").read_text(encoding="utf-8"))
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _copied() -> list[str]:
    sources = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            sources += [s for s in shlex.split(line)[1:-1] if not s.startswith("--")]
    return sources


def test_the_matcher_reads_patterns_as_docker_does() -> None:
    rules = _Ignore("*.db\n**/*.log\n.venv\ncache/**\n!cache/keep")
    assert rules.excluded("top.db") and not rules.excluded("configs/llmgate.db")  # anchored at the top
    assert rules.excluded("a/b/c.log") and rules.excluded("c.log")
    assert rules.excluded(".venv/lib/site.py")  # through its parent directory
    assert rules.excluded("cache/x") and not rules.excluded("cache/keep")


def test_context_leaves_out_the_venv_git_caches_and_stores() -> None:
    for path in (
        ".venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so",
        ".git/objects/pack/pack-1.pack",
        "llmgate.db",
        "configs/llmgate.db",
        "configs/llmgate.db-wal",
        "configs/llmgate.db-shm",
        "evals/llmgate.db",
        "deep/er/store.sqlite3",
        ".llmgate-spill/spill-12-ab.jsonl",
        "configs/.llmgate-spill/spill-12-ab.jsonl",
        "src/llmgate/__pycache__/gateway.cpython-311.pyc",
        ".pytest_cache/v/cache/lastfailed",
        ".mypy_cache/3.11/llmgate/gateway.data.json",
        "benchmarks/.work/report.db",
    ):
        assert IGNORE.excluded(path), path
    for path in (
        "pyproject.toml",
        "README.md",
        "constraints.txt",
        "src/llmgate/gateway.py",
        "src/llmgate/store/migrations/versions/0001_initial.py",
        "src/llmgate/ui/static/app.js",
        "configs/default.yaml",
    ):
        assert not IGNORE.excluded(path), path


def test_dockerfile_copies_only_what_the_context_holds_and_no_store() -> None:
    copied = _copied()
    assert "configs" not in copied and "." not in copied  # no folder that a store may sit in
    for source in copied:
        assert not IGNORE.excluded(source), source
        assert (ROOT / source).exists(), source


def test_build_context_of_a_worked_in_checkout(tmp_path: Path) -> None:
    """A checkout after a Quickstart: a venv, stores and spill files beside the sources."""
    for path, size in {
        ".venv/lib/python3.11/site-packages/big.so": 1 << 20,
        ".git/HEAD": 10,
        "llmgate.db": 4096,
        "configs/llmgate.db": 4096,
        "configs/llmgate.db-wal": 4096,
        ".llmgate-spill/spill-1-aa.jsonl": 100,
        "src/llmgate/__init__.py": 100,
        "src/llmgate/__pycache__/__init__.cpython-311.pyc": 100,
        "configs/default.yaml": 100,
        "pyproject.toml": 100,
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"x" * size)
    assert sorted(IGNORE.context(tmp_path)) == [
        "configs/default.yaml",
        "pyproject.toml",
        "src/llmgate/__init__.py",
    ]
    # and this checkout's own context: no store, nothing of .venv or .git, a few MB at most
    sent = IGNORE.context(ROOT)
    assert not [p for p in sent if p.startswith((".venv/", ".git/")) or ".db" in p.rsplit("/", 1)[-1]]
    assert sum((ROOT / p).stat().st_size for p in sent) < 20_000_000
