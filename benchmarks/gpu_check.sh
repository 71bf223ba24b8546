#!/usr/bin/env bash
# The GPU check, under 8 minutes on one H100/H200: a ~1B model in bf16 under ZeRO-1 on one GPU
# (eager, compiled, without document masking, with liger-kernel when installed) and 20 fp32 steps.
# Prints tokens/s, MFU, peak memory beside `pretrain plan`'s estimate and bf16-vs-fp32 loss parity;
# exits 1 when a check with a target fails. Details: benchmarks/gpu_check.py.
#
#   benchmarks/gpu_check.sh [--out runs/gpu_check]     # on a GPU machine
#   benchmarks/gpu_check.sh --cpu-smoke                # tiny model on CPU: the script itself works
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONWARNINGS=ignore::FutureWarning WANDB_MODE=disabled
export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-$PWD/.venv/torch_extensions}
exec "$PYTHON" benchmarks/gpu_check.py "$@"
