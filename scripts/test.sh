#!/usr/bin/env bash
# The test command: installs into .venv when missing, then runs the whole suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/test_packed.py -x`).
# `--fast` runs the unit tier only (no multi-process DeepSpeed, Slurm or kill/resume tests): about a
# minute on 2 cores, for feedback while editing; CI and the README's command run everything.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$root/.venv/torch_extensions}"
export WANDB_MODE="${WANDB_MODE:-offline}" DS_ACCELERATOR="${DS_ACCELERATOR:-cpu}"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::FutureWarning}"
if [ "${1:-}" = "--fast" ]; then
  shift
  set -- -m "not slow and not slurm" "$@"
fi
exec .venv/bin/python -m pytest "$@"
