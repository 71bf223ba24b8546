"""Does the test-size model learn the sample corpus? Validation loss against the unigram baseline.

Trains `configs/train/tiny_cpu.yaml` on a packed corpus (default: the bundled sample as packed by
`bash scripts/sample.sh`, runs/sample/packed) on `--ranks` CPU processes, then prints the
validation loss at every eval step next to the unigram entropy of the train split and the unigram
cross-entropy on the validation split (what predicting by token frequency alone scores).

    OMP_NUM_THREADS=1 python benchmarks/bench_val_loss.py --packed runs/sample/packed --steps 300
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dataprep.packed import PackedCorpus  # noqa: E402
from pipeline.data import unigram_baseline  # noqa: E402
from pipeline.metrics import read_metrics  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packed", default="runs/sample/packed")
    parser.add_argument("--config", default="configs/train/tiny_cpu.yaml")
    parser.add_argument("--run-dir", default="runs/bench_val_loss")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("overrides", nargs="*", help="extra training config overrides")
    args = parser.parse_args()

    train, val = PackedCorpus(args.packed, "train"), PackedCorpus(args.packed, "validation")
    baseline = unigram_baseline(train, val)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu", "WANDB_MODE": "disabled",
           "PYTHONWARNINGS": "ignore::FutureWarning"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.ranks}",
               "-m", "pipeline.train", "--config", args.config, f"run.dir={args.run_dir}",
               f"data.packed_dir={args.packed}", f"model.vocab_size={train.vocab_size}",
               f"train.steps={args.steps}", f"train.eval_every={args.eval_every}",
               f"checkpoint.every={args.steps}", *args.overrides]
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True)
    wall = time.perf_counter() - started
    records = read_metrics(Path(args.run_dir) / "metrics.jsonl")
    evals = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    result = {"packed": args.packed, "train_tokens": train.num_tokens, "val_tokens": val.num_tokens,
              "vocab_size": train.vocab_size, **baseline, "evals": evals, "wall_s": wall,
              "median_tokens_per_s": sorted(r["tokens_per_s"] for r in records)[len(records) // 2],
              "first_step_below_unigram": next((s for s, v in evals if v < baseline["val_unigram_cross_entropy"]),
                                               None)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
