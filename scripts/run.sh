#!/usr/bin/env bash
# Install llmgate into .venv and serve configs/default.yaml (built-in mock models, SQLite store).
# Extra arguments go to `llmgate serve`, e.g. `bash scripts/run.sh --port 8080`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
install_llmgate ""
exec .venv/bin/llmgate serve --config configs/default.yaml "$@"
