# Sourced by run.sh, test.sh and lock.sh: make sure .venv exists with uv in it, and define
# install_llmgate EXTRAS, which installs this checkout with exactly the versions in constraints.txt.
# On Debian, `python3 -m venv` needs the python3-venv package; install it when missing.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c "import ensurepip" >/dev/null 2>&1; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    else
      echo "error: $PYTHON cannot create virtual environments; install python3-venv" >&2
      exit 1
    fi
  fi
  "$PYTHON" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check uv
fi

# install_llmgate "dev,quality,monitors" (or "" for the gateway alone)
install_llmgate() {
  local extras="$1"
  case ",$extras," in
    *,quality,*|*,monitors,*)
      # CPU torch first, with pip (it takes torch 2.13.0 from the machine's wheel directory / PyPI's CPU
      # build); with it installed, the extras' torch range is met and nothing pulls the CUDA build.
      .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q torch==2.13.0 ;;
  esac
  .venv/bin/uv pip install -q --python .venv/bin/python -c constraints.txt -e ".${extras:+[$extras]}"
}
