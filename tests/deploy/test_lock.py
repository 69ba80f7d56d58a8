"""The lock file: what every install path (scripts/, .ci/run, the Dockerfile) installs, exactly.

pyproject.toml keeps ranges for people who install llmgate as a library; constraints.txt pins every
package to the version the suite was run with. These tests check the two agree, and that the
environment running the suite is the locked one (so a fresh clone tests what was tested).
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        assert match, f"constraints.txt: not an exact pin: {line!r}"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(text) for text in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        requirements += [Requirement(text) for text in extra]
    # an extra that names another of this project's extras ("llmgate-server[quality]") is no dependency
    return [r for r in requirements if canonicalize_name(r.name) != canonicalize_name(project["name"])]


def test_every_declared_dependency_is_locked_within_its_range() -> None:
    locked = _locked()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        if name == "torch":  # pinned where it is installed: the CPU build, torch==2.13.0
            assert requirement.specifier.contains("2.13.0")
            continue
        assert name in locked, f"{requirement.name} is not in constraints.txt (run scripts/lock.sh)"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{requirement.name}=={locked[name]} is outside pyproject's range {requirement.specifier}"
        )


def test_the_environment_is_the_locked_one() -> None:
    """Every locked package that is installed has exactly the locked version."""
    mismatched = []
    for name, version in _locked().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a platform-specific pin this machine does not need
        if installed != version:
            mismatched.append(f"{name}: installed {installed}, locked {version}")
    assert not mismatched, "; ".join(mismatched)
    assert metadata.version("torch").startswith("2.13.0")


def test_install_paths_use_the_lock() -> None:
    assert "-c constraints.txt" in (ROOT / "scripts" / "_venv.sh").read_text()
    for script in ("test.sh", "run.sh", "install.sh"):
        assert "install_llmgate" in (ROOT / "scripts" / script).read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "constraints.txt ./" in dockerfile
    assert dockerfile.count("pip install -c constraints.txt") == 2
