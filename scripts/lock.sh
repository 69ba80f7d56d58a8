#!/usr/bin/env bash
# Regenerate constraints.txt: the exact version of every package llmgate and its extras install
# (Linux x86_64, Python 3.11), resolved against the CPU build of torch. torch itself is pinned where
# it is installed (scripts/_venv.sh, the Dockerfile), since PyPI's torch is the multi-GB CUDA build.
# Upgrading a dependency: change pyproject.toml if its range must move, run this, run the suite,
# and commit the lock on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
{
  echo "# The locked versions of everything llmgate installs (Linux x86_64, Python 3.11); torch is pinned"
  echo "# separately to the CPU build (torch==2.13.0). Regenerate with: bash scripts/lock.sh"
  .venv/bin/uv pip compile pyproject.toml --extra dev --extra quality --extra monitors \
    --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --find-links "${TORCH_WHEELS:-/opt/wheels}" --no-emit-package torch --no-header --no-annotate --quiet
} > constraints.txt
