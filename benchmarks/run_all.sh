#!/usr/bin/env bash
# Run every benchmark the issues name, one after another (they share the machine's cores, so
# never in parallel), saving each one's Markdown output under runs/bench/, then write them into
# docs/BENCHMARKS.md (benchmarks/collect.py, between its run_all markers, with machine and date).
#
#   bash benchmarks/run_all.sh            # needs the sample run first: bash scripts/sample.sh
#
# Not run here: benchmarks/bench_tokenizer_quality.py needs People's Daily 1998 text, which is
# used locally and never shipped (see its section in docs/BENCHMARKS.md for how it was made).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
.venv/bin/python -m pip install -q -c constraints.txt -e ".[bench]"
export OMP_NUM_THREADS=1 DS_ACCELERATOR=cpu WANDB_MODE=offline PYTHONWARNINGS=ignore::FutureWarning
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$root/.venv/torch_extensions}"
[ -f runs/sample/packed/manifest.json ] || bash scripts/sample.sh
out=runs/bench
mkdir -p "$out"
run() {
  local name=$1; shift
  echo "== $name: $*"
  .venv/bin/python "$@" | tee "$out/$name.md"
}
run cleaning_stages benchmarks/bench_cleaning_stages.py
run pii             benchmarks/bench_pii.py
run pii_heldout     benchmarks/pii_heldout.py
run web_pages       benchmarks/bench_web_pages.py
run dataprep        benchmarks/bench_dataprep.py --inputs data/sample/raw --workers 2
run dataprep_speed  benchmarks/bench_dataprep_speed.py --repeat 3
run neardup         benchmarks/bench_neardup.py
run neardup_heldout benchmarks/neardup_heldout.py
run tokenize        benchmarks/bench_tokenize.py --input runs/sample/data/clean --tokenizer runs/sample/tokenizer/tokenizer.model
run train_ddp       benchmarks/bench_train.py --ranks 2 --dim 256 --layers 4 --seq 256
run val_loss        benchmarks/bench_val_loss.py --packed runs/sample/packed --steps 300
run doc_quality     benchmarks/bench_doc_quality.py
run domains         benchmarks/bench_domains.py
if [ "$(id -u)" = 0 ]; then run slurm benchmarks/bench_slurm.py; fi
.venv/bin/python benchmarks/collect.py "$out"
