#!/usr/bin/env bash
# Install llmgate with its test dependencies into .venv, then run the checks and the whole suite.
# Tests that need PostgreSQL or Redis read LLMGATE_TEST_DATABASE_URL / LLMGATE_TEST_REDIS_URL
# (.ci/run starts both servers and sets them); without them those tests are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
# CPU torch first, with pip (it takes torch 2.13.0 from the machine's wheel directory / PyPI's CPU build);
# with it installed, the quality/monitors extras' torch range is already met and nothing pulls CUDA.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/uv pip install -q --python .venv/bin/python -e '.[dev,quality,monitors]'
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/ruff format --check src tests benchmarks scripts
.venv/bin/mypy
.venv/bin/lint-imports
exec .venv/bin/python -m pytest "$@"
