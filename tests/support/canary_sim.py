"""The canary simulator of ``benchmarks/canary_decisions.py``, loaded for the tests.

The benchmark owns the simulated traffic and the step logic (one place for both: the tests assert
the documented rates on the very simulation that measures them); this loads it by path, as the
``benchmarks/`` folder is not a package.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "canary_decisions.py"
_NAME = "llmgate_bench_canary_decisions"


def load() -> ModuleType:
    """The benchmark module (loaded once)."""
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    spec = importlib.util.spec_from_file_location(_NAME, BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
