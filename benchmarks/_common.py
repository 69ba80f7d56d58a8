"""What the benchmark scripts share: finding the shared data, reading JSON lines, and replacing
one section of ``benchmarks/RESULTS.md`` without touching the others."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"


def shared_data_dir() -> Path | None:
    """Where the shared data lives: $LLMGATE_SHARED_DATA, ../shared/data, or /work/shared/data."""
    candidates = []
    if os.environ.get("LLMGATE_SHARED_DATA"):
        candidates.append(Path(os.environ["LLMGATE_SHARED_DATA"]))
    candidates += [BENCH.parent.parent / "shared" / "data", Path("/work/shared/data")]
    for candidate in candidates:
        if (candidate / "halueval_qa_dev.jsonl").is_file():
            return candidate
    return None


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _section_pattern(title: str) -> re.Pattern[str]:
    """The section headed ``title`` (``## ...``): up to the next ``## `` heading or the end."""
    return re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)


def read_section(title: str, path: Path = RESULTS) -> str:
    """The section headed ``title`` of RESULTS.md as it stands ("" when absent)."""
    match = _section_pattern(title).search(path.read_text(encoding="utf-8")) if path.exists() else None
    return match.group(0) if match else ""


def write_section(text: str, title: str, path: Path = RESULTS) -> None:
    """Replace the section headed ``title`` (``## ...``) of RESULTS.md with ``text`` (which starts
    with that heading), or append it when absent; nothing else in the file changes."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    pattern = _section_pattern(title)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


_CALLGRIND_TOTAL = re.compile(rb"^totals: (\d+)", re.MULTILINE)


def callgrind_counting(state: str) -> None:
    """Switch callgrind's counting ``on`` or ``off`` for this process (nothing outside valgrind)."""
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], capture_output=True, check=False)


def callgrind_instructions(script: str, runs: list[list[str]]) -> list[int]:
    """``script`` run under callgrind once with each of ``runs``' arguments (all at once), counting
    only while each run switches it on (``callgrind_counting``): the instructions each counted."""
    work = Path(tempfile.mkdtemp())
    started = []
    for index, arguments in enumerate(runs):
        out = work / f"callgrind.{index}"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            script,
            *arguments,
        ]
        started.append((out, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    for _, process in started:
        if process.wait() != 0:
            raise SystemExit("a callgrind run failed (is valgrind installed?)")
    return [int(_CALLGRIND_TOTAL.search(out.read_bytes()).group(1)) for out, _ in started]  # type: ignore[union-attr]
