#!/usr/bin/env bash
# Install llmgate with its test dependencies into .venv, then run the checks and the whole suite.
# Tests that need PostgreSQL or Redis read LLMGATE_TEST_DATABASE_URL / LLMGATE_TEST_REDIS_URL
# (.ci/run starts both servers and sets them); without them those tests are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
install_llmgate dev,quality,monitors
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/ruff format --check src tests benchmarks scripts
.venv/bin/mypy
.venv/bin/lint-imports
exec .venv/bin/python -m pytest "$@"
