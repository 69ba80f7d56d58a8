"""No import cycles between llmgate's modules, counting imports written inside functions.

The module graph is built from the source with ``ast`` (nothing is imported), so a cycle hidden in a
function body fails here even though import-linter (which also sees function-level imports) would only
report it if a contract happened to cover those two modules.

What counts as an edge ``A -> B`` (both modules of ``src/llmgate``):

- every ``import x.y`` / ``from x.y import name`` in ``A``: at module level, inside functions and
  classes, inside ``try``/``if`` blocks, all alike;
- except those under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): they never execute, so they
  cannot form a cycle at run time; their ``else:`` branch does count;
- ``importlib.import_module("llmgate.x")`` with a constant name counts as ``import llmgate.x`` (an
  import is no less an import for being spelt as a call);
- relative imports are resolved against ``A``'s package (``A``'s own package when ``A`` is an
  ``__init__``);
- ``from pkg import name`` is an edge to ``pkg.name`` when ``name`` is a submodule of ``pkg`` (importing
  it runs that module), and an edge to ``pkg`` itself only when ``name`` is not a submodule (it reads a
  name that ``pkg/__init__.py`` defines or re-exports);
- ``import pkg.sub`` is an edge to ``pkg.sub`` only. Python also runs ``pkg/__init__.py`` first, but that
  implicit parent edge is left out on purpose: a package ``__init__`` that re-exports its submodules
  would otherwise make a cycle with every one of them, and such an ``__init__`` is harmless (its
  submodules are fully imported by the time it reads from them). An explicit ``import pkg`` /
  ``from pkg import Name`` is an edge to the ``__init__`` like any other, so ``from llmgate import
  __version__`` inside ``src`` is an edge to ``llmgate/__init__.py`` (which builds the app) and shows up.

Every strongly connected component with more than one module (or a module importing itself) is a
cycle; the failure lists each one with the edges that close it.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "llmgate"


def module_files(src: Path = SRC, root: str = ROOT) -> dict[str, Path]:
    """Every module under ``src/root`` by dotted name (a package by its ``__init__``)."""
    modules: dict[str, Path] = {}
    for path in sorted((src / root).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _dynamic(node: ast.AST) -> ast.Import | None:
    """``importlib.import_module("name")`` (or ``import_module("name")``) as ``import name``."""
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
        return None
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    name = node.args[0].value
    if called != "import_module" or not isinstance(name, str):
        return None
    return ast.Import(names=[ast.alias(name=name)])


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import under ``node``, at any depth, skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]))
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif (dynamic := _dynamic(child)) is not None:
            yield dynamic
        yield from _imports(child)


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` if it is one of our modules, else its longest prefix that is (None outside llmgate)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if path.name != "__init__.py":
        package.pop()
    if node.level > 1:
        package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, node.module] if node.module else package)


def import_graph(src: Path = SRC, root: str = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of ``root`` it imports (rules in the module docstring)."""
    modules = module_files(src, root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [_known(alias.name, modules) for alias in node.names]
            else:
                base = _base(module, path, node)
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    targets.append(submodule if submodule in modules else _known(base, modules))
            graph[module].update(target for target in targets if target is not None)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components that are cycles, each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found, key=lambda component: (-len(component), component))


def describe(graph: dict[str, set[str]], component: list[str]) -> str:
    members = set(component)
    edges = [
        f"    {source} -> {target}" for source in component for target in sorted(graph[source] & members)
    ]
    return f"  {len(component)} modules:\n" + "\n".join(edges)


def test_the_graph_follows_the_rules(tmp_path: Path) -> None:
    """Each rule of the module docstring on a small package whose imports are known."""
    files = {
        "pkg/__init__.py": "from pkg.sub.a import thing\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/a.py": "import os\n\ndef f():\n    from . import b\n    return b\n\nthing = 1\n",
        "pkg/sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import c\n"
        "else:\n    from ..sub.c import Name\n",
        "pkg/sub/c.py": "import pkg.sub.a\nfrom pkg import thing\n\nName = 1\n",
        "pkg/d.py": "import importlib\n\ndef f():\n    return importlib.import_module('pkg.sub.b')\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path, "pkg")
    assert graph == {
        "pkg": {"pkg.sub.a"},  # a re-exporting __init__: an edge to its submodule...
        "pkg.sub": set(),
        "pkg.sub.a": {"pkg.sub.b"},  # ...but no implicit edge back from the submodule; function-level counts
        "pkg.sub.b": {"pkg.sub.c"},  # TYPE_CHECKING skipped, its else kept, ``..`` resolved
        "pkg.sub.c": {"pkg.sub.a", "pkg"},  # ``from pkg import thing`` reads pkg/__init__.py
        "pkg.d": {"pkg.sub.b"},  # import_module with a constant name
    }
    assert cycles(graph) == [["pkg", "pkg.sub.a", "pkg.sub.b", "pkg.sub.c"]]


def test_cycles_are_found() -> None:
    """The detector itself: a two-module cycle, a self-import and an acyclic tail."""
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": set(), "d": {"d"}}
    assert cycles(graph) == [["a", "b"], ["d"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    report = "\n".join(describe(graph, component) for component in found)
    assert not found, f"{len(found)} import cycle(s) in src/llmgate (function-level imports count):\n{report}"


def _function_level_imports(node: ast.AST, inside: bool = False) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import written inside a function (at any depth), skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _function_level_imports(ast.Module(body=[other], type_ignores=[]), inside)
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            if inside:
                yield child
            continue
        nested = inside or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _function_level_imports(child, nested)


def _comment_lines(text: str) -> set[int]:
    """The line numbers that hold a ``#`` comment (a ``#`` inside a string is not one)."""
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return {token.start[0] for token in tokens if token.type == tokenize.COMMENT}


def uncommented_function_imports(text: str) -> list[int]:
    """The first lines of the function-level imports in ``text`` that say nothing about why.

    An import is explained by a comment on one of its own lines, or on the line(s) directly above it
    in the same block: walking up from the import, blank lines and the other imports of the same run
    of imports are skipped, and the first line that is neither must be a comment (so one comment
    above a block of consecutive imports covers the block).
    """
    tree = ast.parse(text)
    comments = _comment_lines(text)
    imports = list(_function_level_imports(tree))
    import_lines = {
        line for node in imports for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    }
    blank = {number for number, line in enumerate(text.splitlines(), 1) if not line.strip()}
    missing: list[int] = []
    for node in imports:
        own = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        if comments.intersection(own):
            continue
        line = node.lineno - 1
        while line in blank or (line in import_lines and line not in comments):
            line -= 1
        if line not in comments:
            missing.append(node.lineno)
    return missing


def test_the_comment_rule_follows_its_docstring() -> None:
    text = (
        "from typing import TYPE_CHECKING\n"
        "import os  # module level: no comment needed\n"
        "\n"
        "def f():\n"
        "    if TYPE_CHECKING:\n"
        "        import numpy\n"  # never runs: no comment needed
        "    # torch: off start-up\n"
        "    import torch\n"
        "\n"
        "    from x import (\n"
        "        y,\n"
        "    )\n"  # same run as torch: covered by the comment above it
        "    z = 1\n"
        "    import json\n"  # 14: after a statement, no comment
        "    import re  # stdlib, on purpose\n"
        "    import sys\n"  # covered by the trailing comment of the line above (same run)
        "\n"
        "class C:\n"
        "    def m(self):\n"
        "        '''Doc.'''\n"
        "        import yaml\n"  # 21: a docstring is not a comment
        "        return lambda: __import__('a')\n"
        "\n"
        "def g():\n"
        "    x = '# not a comment'\n"
        "    import csv\n"  # 26: a '#' inside a string does not count
    )
    assert uncommented_function_imports(text) == [14, 21, 26]


def test_function_level_imports_say_why() -> None:
    """A function-level import keeps an optional or heavy dependency off a path that matters, and says
    which on its line or directly above (DESIGN.md); anything else goes at the top of the module."""
    found = [
        f"  {path.relative_to(SRC)}:{line}"
        for path in module_files().values()
        for line in uncommented_function_imports(path.read_text(encoding="utf-8"))
    ]
    assert not found, (
        f"{len(found)} function-level import(s) without a comment saying which heavy or optional "
        "dependency they keep off which path (else move them to the top of the module):\n" + "\n".join(found)
    )
