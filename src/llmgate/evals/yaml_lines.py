"""YAML with line numbers: validation errors that point at the line of the offending key.

``read_yaml`` parses a document keeping PyYAML's node tree (``yaml.compose``), whose nodes carry
their start marks, and refuses a key repeated within one mapping (which PyYAML would silently
let the last one win). ``describe_error`` turns one pydantic error into one line,
``SOURCE:LINE: key.path[2].sub: problem``, walking the error's location down the node tree to the
deepest node that exists (the key itself for an unknown key). A validator may point below its
own location by raising ``SpecProblem(path, message)``.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic_core import ErrorDetails

from llmgate.config.problems import key_path, plain_problem
from llmgate.errors import ConfigError
from llmgate.evals.assertions.base import SpecProblem


def read_yaml(
    text: str, source: str, *, error: type[ConfigError] = ConfigError
) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (with line marks) and its data; ``error`` (one line) if it is not YAML
    or repeats a key in a mapping. Parsed by libyaml when PyYAML has it (a 750-case suite in a
    tenth of the time); a document it refuses is parsed again in Python, for PyYAML's own message."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        loader = fast(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        except yaml.YAMLError:
            pass  # parsed again below, for PyYAML's own message and line
        else:
            if node is not None:
                _no_duplicate_keys(node, source, error)
            return node, data
        finally:
            loader.dispose()
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _no_duplicate_keys(node, source, error)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise error(f"{source}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return node, data


def _no_duplicate_keys(node: yaml.Node, source: str, error: type[ConfigError]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise error(f"{source}:{key.start_mark.line + 1}: duplicate key {key.value!r}")
                seen.add(key.value)
            _no_duplicate_keys(value, source, error)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _no_duplicate_keys(item, source, error)


def describe_error(error: ErrorDetails, root: yaml.Node | None, source: str) -> str:
    """``SOURCE:LINE: key.path[0]: problem`` for one pydantic error on the document under ``root``."""
    loc = list(error["loc"])
    problem = error.get("ctx", {}).get("error")
    if isinstance(problem, SpecProblem):
        loc += list(problem.path)
        message = problem.message
    elif error["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}" if loc else "unknown key"
    else:
        message = plain_problem(error)
    node = _node_at(root, loc, key=error["type"] == "extra_forbidden")
    line = f":{node.start_mark.line + 1}" if node is not None else ""
    return f"{source}{line}: {key_path(loc)}: {message}" if loc else f"{source}{line}: {message}"


def _node_at(root: yaml.Node | None, loc: list[int | str], *, key: bool) -> yaml.Node | None:
    """The deepest node of ``loc`` that exists (the key's own node for an unknown key)."""
    node = root
    for i, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            match = next((kv for kv in node.value if getattr(kv[0], "value", None) == part), None)
            if match is None:
                return node
            node = match[0] if key and i == len(loc) - 1 else match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node
