#!/usr/bin/env bash
# Create .venv in the checkout when missing and install the project into it (CPU torch pin).
# Idempotent: a venv whose install stamp matches pyproject.toml is reused as is.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first, from the pin: a bare `torch` requirement would pull a multi-GB CUDA build.
  # A torch already in .venv (a GPU user's CUDA build) is kept: then the pin is not applied.
  constraint=()
  if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/python -m pip install -q -c constraints.txt "torch==2.13.0"
    constraint=(-c constraints.txt)
  elif .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__ != '2.13.0+cpu')"; then
    constraint=(-c constraints.txt)
  fi
  .venv/bin/python -m pip install -q "${constraint[@]}" -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
