"""The public labelled data the scorer and monitor tests read (HaluEval rows, JSON lines).

Found through ``LLMGATE_SHARED_DATA``, else ``<project>/../shared/data``, else ``/work/shared/data``;
a test that needs a file that is not there is skipped, with the variable to set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path | None:
    candidates = []
    if os.environ.get("LLMGATE_SHARED_DATA"):
        candidates.append(Path(os.environ["LLMGATE_SHARED_DATA"]))
    candidates += [PROJECT.parent / "shared" / "data", Path("/work/shared/data")]
    for candidate in candidates:
        if (candidate / "halueval_qa_dev.jsonl").is_file():
            return candidate
    return None


def load_rows(name: str) -> list[dict[str, Any]]:
    """The rows of ``name`` (e.g. ``halueval_qa_dev.jsonl``), or a skip when it is missing."""
    directory = shared_data_dir()
    if directory is None or not (directory / name).is_file():
        pytest.skip(f"shared data {name} not found (set LLMGATE_SHARED_DATA)", allow_module_level=True)
    with (directory / name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def english(size: int) -> str:
    """``size`` characters of real English (HaluEval's passages), as a prompt or an answer holds."""
    text = ""
    for row in load_rows("halueval_qa_dev.jsonl"):
        text += row["knowledge"] + " "
        if len(text) >= size:
            return text[:size]
    raise AssertionError("not enough text")
