"""``docs/architecture.md`` is the map of ``src/llmgate``: it may not silently fall behind the tree.

The page writes every path from the repository root, in backticks (``src/llmgate/gateway.py``,
``tests/routing/test_attempts.py``, ``src/llmgate/store/migrations/``). Two checks:

- every folder under ``src/llmgate`` (``__pycache__`` aside) is named as ``src/llmgate/<folder>/``, and
  every module directly in ``src/llmgate`` as ``src/llmgate/<module>.py``: a new package, or one
  renamed, fails until the map says where it sits;
- every path the page names exists. A path holding a ``<placeholder>`` (a file a recipe tells you to
  create, ``src/llmgate/providers/<name>.py``) needs only its folder to exist.

It also keeps the "How to add" recipes the issue asked for, and the README's pointer to the page.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "src" / "llmgate"
#: the folders and files at the repository root that a path on the page may start with
PATH_STARTS = ("src/", "tests/", "docs/", "scripts/", "benchmarks/", "configs/", "evals/", ".ci/")
ROOT_FILES = ("pyproject.toml", "README.md", "constraints.txt", "Dockerfile")
RECIPES = (
    "a provider",
    "an endpoint",
    "a drift statistic",
    "an eval assertion",
    "a report",
    "a dashboard page",
)

_CODE = re.compile(r"`([^`\s]+)`")


def named_paths(text: str) -> set[str]:
    """The repository paths ``text`` names in backticks."""
    return {token for token in _CODE.findall(text) if token.startswith(PATH_STARTS) or token in ROOT_FILES}


def missing_paths(paths: set[str], root: Path) -> list[str]:
    """The paths that do not exist under ``root``; for a ``<placeholder>`` path, its folder."""
    missing = []
    for path in sorted(paths):
        if "<" in path:
            folder = path[: path.index("<")].rpartition("/")[0]
            if not (root / folder).is_dir():
                missing.append(path)
        elif path.endswith("/"):
            if not (root / path).is_dir():
                missing.append(path)
        elif not (root / path).is_file():
            missing.append(path)
    return missing


def _has_files(folder: Path) -> bool:
    return any(p.is_file() and "__pycache__" not in p.parts for p in folder.rglob("*"))


def unmentioned(paths: set[str], package: Path, prefix: str) -> list[str]:
    """The folders under ``package`` and the modules directly in it that ``paths`` does not name,
    written as the page should name them (``prefix`` is ``package`` from the repository root)."""
    wanted = [
        f"{prefix}/{folder.relative_to(package).as_posix()}/"
        for folder in sorted(package.rglob("*"))
        if folder.is_dir() and "__pycache__" not in folder.parts and _has_files(folder)
    ]
    wanted += [f"{prefix}/{module.name}" for module in sorted(package.glob("*.py"))]
    return [path for path in wanted if path not in paths]


def test_every_package_and_top_level_module_is_on_the_map() -> None:
    paths = named_paths(DOC.read_text(encoding="utf-8"))
    missing = unmentioned(paths, PACKAGE, "src/llmgate")
    assert not missing, (
        "docs/architecture.md does not name these; add each where it belongs (one line per module group):\n"
        + "\n".join(f"  `{path}`" for path in missing)
    )


def test_every_path_on_the_map_exists() -> None:
    paths = named_paths(DOC.read_text(encoding="utf-8"))
    assert len(paths) > 100, "the page names its paths from the repository root, in backticks"
    gone = missing_paths(paths, ROOT)
    assert not gone, "docs/architecture.md names paths that do not exist:\n" + "\n".join(
        f"  `{path}`" for path in gone
    )


def test_the_recipes_are_there() -> None:
    headings = set(re.findall(r"^### How to add (.+?)(?: \(.*\))?$", DOC.read_text(encoding="utf-8"), re.M))
    assert set(RECIPES) <= headings, sorted(set(RECIPES) - headings)


def test_the_readme_points_to_the_map() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    development = readme.split("\n## Development\n", 1)[1].split("\n## ", 1)[0]
    assert "docs/architecture.md" in development


def test_the_checks_catch_a_new_package_and_a_stale_path(tmp_path: Path) -> None:
    package = tmp_path / "src" / "pkg"
    for folder in ("old", "new/inner", "gone/__pycache__"):
        (package / folder).mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "top.py").write_text("")
    (package / "old" / "__init__.py").write_text("")
    (package / "new" / "inner" / "mod.py").write_text("")
    (package / "gone" / "__pycache__" / "x.pyc").write_bytes(b"")  # a package moved away: not on the map

    text = (
        "`src/pkg/__init__.py`, `src/pkg/top.py`, `src/pkg/old/`, `src/pkg/old/<name>.py`,"
        " `src/pkg/old/renamed.py`, `src/pkg/nowhere/<name>.py`, `src/pkg/old/gone/`, old/x.py, `x`"
    )
    paths = named_paths(text)
    assert "x" not in paths and "old/x.py" not in paths
    assert unmentioned(paths, package, "src/pkg") == ["src/pkg/new/", "src/pkg/new/inner/"]
    assert missing_paths(paths, tmp_path) == [
        "src/pkg/nowhere/<name>.py",
        "src/pkg/old/gone/",
        "src/pkg/old/renamed.py",
    ]
