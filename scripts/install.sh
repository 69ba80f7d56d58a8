#!/usr/bin/env bash
# Install this checkout into .venv with the given extras, at exactly the locked versions:
#   bash scripts/install.sh quality      # offline scorers (grounded, answer_relevance, similar)
#   bash scripts/install.sh monitors     # + live drift and retrieval-quality monitors
#   bash scripts/install.sh              # the gateway alone
# The quality and monitors extras need torch: the CPU build goes in first, so nothing pulls the
# multi-GB CUDA build. (The distribution is llmgate-server; "llmgate" on PyPI is another project.)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
install_llmgate "${1:-}"
echo "installed: $(.venv/bin/llmgate --version) ${1:+with the $1 extra}"
