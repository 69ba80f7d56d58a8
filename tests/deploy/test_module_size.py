"""No module of ``src/llmgate`` is longer than 400 lines (DESIGN.md: split by concept before a
module passes about 400 lines, into a new module with a docstring saying what it owns).

Lines are counted as ``wc -l`` counts them (a last line without a newline counts too). The failure
lists every module over the limit with its length, longest first.
"""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "llmgate"
MAX_LINES = 400


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def oversized(root: Path, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """The ``.py`` files under ``root`` longer than ``limit`` lines, longest first."""
    found = [(path.relative_to(root).as_posix(), line_count(path)) for path in sorted(root.rglob("*.py"))]
    return sorted(((name, n) for name, n in found if n > limit), key=lambda item: (-item[1], item[0]))


def test_no_module_is_over_400_lines() -> None:
    assert SRC.is_dir(), SRC
    too_long = oversized(SRC)
    listing = "\n".join(f"  src/llmgate/{name}: {n} lines" for name, n in too_long)
    assert not too_long, (
        f"{len(too_long)} module(s) over {MAX_LINES} lines; split them by concept:\n{listing}"
    )


def test_the_check_counts_lines_as_wc_does(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "at_limit.py").write_text("x = 1\n" * MAX_LINES)
    (package / "no_final_newline.py").write_text("x = 1\n" * MAX_LINES + "x = 1")
    (package / "sub" / "long.py").write_text("x = 1\n" * (MAX_LINES + 50))
    (package / "notes.txt").write_text("x\n" * (MAX_LINES * 2))
    assert oversized(package) == [("sub/long.py", MAX_LINES + 50), ("no_final_newline.py", MAX_LINES + 1)]
