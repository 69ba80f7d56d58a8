"""How long ``llmgate`` takes to start: ``--help``, ``--version`` and read-only commands.

    python benchmarks/cli_startup.py                        # this tree, median of 15 runs each
    python benchmarks/cli_startup.py --before /tmp/before/src --record
    python benchmarks/cli_startup.py --no-bytecode          # as on a first run, nothing compiled yet

Each command runs as a user runs it, through the installed entry point (``.venv/bin/llmgate``),
against a config in a temporary directory whose SQLite store is migrated beforehand (an empty
store: the figures are start-up, not query time). For each command: the median wall time and the
median user + system CPU time of the process over ``--runs`` runs, after one warm-up run.

Compiled bytecode: a normal install (pip) compiles every module, and a first run writes what is
missing; a venv made with ``uv pip install`` and run with ``PYTHONDONTWRITEBYTECODE=1`` compiles
every import on every run. So the runs get a private ``PYTHONPYCACHEPREFIX`` (Python then reads and
writes bytecode only there), filled by the warm-up run, as an installed llmgate would have;
``--no-bytecode`` leaves it empty and unwritten, so every import is compiled on every run.

``--before DIR`` also times another tree's ``src`` (``git archive HEAD src | tar -x -C DIR/..``),
put first on ``PYTHONPATH`` so the same entry point imports it, alternating run by run with this
tree so that load on the machine falls on both alike. CPU time moves less with load than wall time;
on a busy machine compare CPU times.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TITLE = "## Issue 15: CLI start-up"
LLMGATE = Path(sys.executable).parent / "llmgate"

#: (label, arguments; CONFIG is replaced by the temporary config's path), and the target (s)
COMMANDS: list[tuple[str, list[str], float]] = [
    ("llmgate --help", ["--help"], 0.2),
    ("llmgate --version", ["--version"], 0.2),
    ("llmgate report spend --help", ["report", "spend", "--help"], 0.4),
    ("llmgate keys list", ["keys", "list", "-c", "CONFIG"], 0.4),
    ("llmgate teams list", ["teams", "list", "-c", "CONFIG"], 0.4),
    ("llmgate logs", ["logs", "-c", "CONFIG"], 0.4),
    ("llmgate report spend", ["report", "spend", "-c", "CONFIG"], 0.4),
    ("llmgate drift status", ["drift", "status", "-c", "CONFIG"], 0.4),
    ("llmgate eval list", ["eval", "list", "-c", "CONFIG"], 0.4),
]


def _prepare(work: Path, env: dict[str, str]) -> Path:
    """A config and its store, migrated by the tree that will read it (trees may differ in schema)."""
    work.mkdir()
    config = work / "config.yaml"
    config.write_text(
        "model_list:\n  - model_name: mock-echo\n    litellm_params: {model: mock/echo}\n"
        "general_settings:\n  master_key: sk-bench-master-0123456789\n"
        f"llmgate:\n  database_url: sqlite:///{work / 'store.db'}\n  spill_dir: {work / 'spill'}\n"
    )
    subprocess.run(
        [str(LLMGATE), "db", "upgrade", "-c", str(config)], check=True, capture_output=True, env=env
    )
    return config


def _env(src: Path | None, pycache: Path, *, write: bool) -> dict[str, str]:
    """The environment of a run: ``src`` first on the path, bytecode only under ``pycache`` (never
    the ``__pycache__`` beside the sources), written there or not at all."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "COLUMNS")
    }
    if src is not None:
        env["PYTHONPATH"] = str(src)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if not write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _once(args: list[str], env: dict[str, str], *, check: bool = True) -> tuple[float, float]:
    """(wall s, user + system CPU s) of one run; NaN for a command the tree does not have."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([str(LLMGATE), *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0 and not check:
        return math.nan, math.nan
    if result.returncode != 0:
        raise SystemExit(f"llmgate {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(runs: int, before: Path | None, bytecode: bool) -> list[dict[str, object]]:
    trees: dict[str, Path | None] = {"after": None}
    if before is not None:
        trees = {"before": before, "after": None}
    with tempfile.TemporaryDirectory(prefix="llmgate-cli-bench-") as tmp:
        work = Path(tmp)
        envs = {name: _env(src, work / f"pycache-{name}", write=bytecode) for name, src in trees.items()}
        configs = {name: _prepare(work / name, envs[name]) for name in trees}
        rows: list[dict[str, object]] = []
        for label, template, target in COMMANDS:
            argv = {name: [str(configs[name]) if a == "CONFIG" else a for a in template] for name in trees}
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
            for name in trees:  # warm-up: fills the bytecode cache
                _once(argv[name], envs[name], check=name == "after")
            for _ in range(runs):
                for name in trees:
                    samples[name].append(_once(argv[name], envs[name], check=name == "after"))
            row: dict[str, object] = {"command": label, "target": target}
            for name, values in samples.items():
                row[f"{name}_wall"] = statistics.median(v[0] for v in values)
                row[f"{name}_cpu"] = statistics.median(v[1] for v in values)
            rows.append(row)
            print(_line(row, before is not None), flush=True)
    return rows


def _line(row: dict[str, object], compare: bool) -> str:
    def ms(key: str) -> str:
        value = float(row[key])  # type: ignore[arg-type]
        return "no such option" if math.isnan(value) else f"{value * 1000:,.0f}"

    cells = [f"`{row['command']}`"]
    if compare:
        cells += [ms("before_wall"), ms("before_cpu")]
    cells += [ms("after_wall"), ms("after_cpu"), f"< {float(row['target']) * 1000:,.0f}"]  # type: ignore[arg-type]
    return "| " + " | ".join(cells) + " |"


def table(rows: list[dict[str, object]], compare: bool) -> str:
    head = ["command"]
    if compare:
        head += ["before: wall ms", "before: CPU ms"]
    head += ["after: wall ms" if compare else "wall ms", "after: CPU ms" if compare else "CPU ms", "target"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |"]
    return "\n".join(lines + [_line(row, compare) for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--before", type=Path, help="another tree's src directory to time as 'before'")
    parser.add_argument("--no-bytecode", action="store_true", help="compile every import on every run")
    parser.add_argument("--record", action="store_true", help=f"replace the {TITLE!r} section of RESULTS.md")
    options = parser.parse_args()
    load = os.getloadavg()
    rows = measure(options.runs, options.before, not options.no_bytecode)
    after = os.getloadavg()
    compare = options.before is not None
    text = table(rows, compare)
    print(text)
    if options.record:
        sys.path.insert(0, str(BENCH))
        from _common import write_section

        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        setting = "no bytecode (every import compiled)" if options.no_bytecode else "bytecode cached"
        intro = (
            f"{TITLE}\n\nRun {when} with `python benchmarks/cli_startup.py --runs {options.runs}"
            f"{' --before <HEAD src>' if compare else ''}{' --no-bytecode' if options.no_bytecode else ''}`;"
            f" {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {setting};"
            f" load average {load[0]:.1f} at the start, {after[0]:.1f} at the end. Median of"
            f" {options.runs} runs per command, through `.venv/bin/llmgate`, on an empty migrated SQLite store.\n\n"
        )
        write_section(intro + text + "\n", TITLE)


if __name__ == "__main__":
    main()
