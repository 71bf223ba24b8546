#!/usr/bin/env bash
# The test command: installs into .venv when missing, then runs the whole suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/test_packed.py -x`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$root/.venv/torch_extensions}"
export WANDB_MODE="${WANDB_MODE:-offline}" DS_ACCELERATOR="${DS_ACCELERATOR:-cpu}"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::FutureWarning}"
exec .venv/bin/python -m pytest "$@"
