#!/usr/bin/env bash
# The main command: installs into .venv when missing, then runs the whole pipeline on the
# bundled sample corpus (CPU by default; `--gpu` for this machine's GPUs). Extra arguments go to
# `python -m pipeline.e2e` (e.g. `out=runs/mine`, `--config my_e2e.yaml`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
exec .venv/bin/python -m pipeline.e2e "$@"
