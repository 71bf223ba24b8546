"""A piped training run (Slurm log, `| tee`) prints its progress lines as they happen, not at exit."""
from __future__ import annotations

import subprocess
import sys

import pytest
from train_fixtures import REPO, base_env, free_port, tiny_overrides, write_corpus

from pipeline.metrics import read_metrics


@pytest.mark.slow
def test_step_lines_arrive_while_training_runs(tmp_path):
    packed = write_corpus(tmp_path / "packed", n_train=200, n_val=20)
    env = {**base_env(), "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port())}
    env.pop("PYTHONUNBUFFERED", None)       # Python's default under a pipe: block-buffered stdout
    # no evaluation or checkpoint lines in between, whose own flush would carry a held-back step line along
    overrides = tiny_overrides(packed, tmp_path / "run", **{"train.steps": 30, "train.print_every": 10,
                                                            "train.eval_every": 0, "checkpoint.every": 1000})
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.train", "--config", "configs/train/tiny_cpu.yaml",
                             *overrides], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    seen = []     # (line, the last step in metrics.jsonl when the line arrived)
    try:
        for line in proc.stdout:
            if line.startswith("step "):
                logged = read_metrics(tmp_path / "run" / "metrics.jsonl")
                seen.append((line.strip(), max((m["step"] for m in logged), default=0)))
    finally:
        assert proc.wait(timeout=300) == 0
    assert [line.split(" |")[0] for line, _ in seen] == ["step 10/30", "step 20/30", "step 30/30"]
    # block-buffered output would arrive only at exit, after step 30 was logged
    assert seen[0][1] < 30, f"the step-10 line arrived only after step {seen[0][1]}"
    assert all(" | loss " in line and "tokens/s" in line and "ETA" in line for line, _ in seen)
