"""Raw text to a trained checkpoint as one `pretrain submit-pipeline` on the two-node test cluster:
data-prep arrays -> tokenizer -> pack -> training, chained with afterok; `pretrain status` follows
it, and submitting again once it is done queues nothing."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm
REPO = Path(__file__).resolve().parents[1]
TINY = {"model.dim": 32, "model.n_layers": 2, "model.n_heads": 2, "model.n_kv_heads": 2, "model.max_seq_len": 64,
        "data.seq_len": 32, "parallel.micro_batch": 2, "parallel.global_batch": 4, "optim.warmup_steps": 2,
        "train.steps": 12, "train.eval_every": 6, "train.eval_batches": 1, "checkpoint.every": 6,
        "wandb.mode": "offline"}


def _submit(cluster, root: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pipeline.cli", "submit-pipeline", "--data-job", "configs/slurm/dataprep.yaml",
           "--tokenizer-config", "configs/tokenizer/sample.yaml", "--train-job", "configs/slurm/cpu_2node.yaml",
           "-o", str(root), f"python={sys.executable}", f"workdir={REPO}", "time=10",
           "-d", f"python={sys.executable}", "-d", f"workdir={REPO}", "-d", "ntasks=2", "-d", "cpus_per_task=1",
           "-d", "overrides=['inputs=[data/sample/raw/part-0000.jsonl.gz]']",
           "-k", "vocab_size=2000", "-k", "character_coverage=0.98", "-k", "word_align_max_breaks=0", "-k", "idiom_symbols=0",
           "-p", "validation_ratio=0.05"]
    for key, value in TINY.items():
        cmd += ["-t", f"{key}={value}"]
    return subprocess.run(cmd, cwd=REPO, env=cluster.env, capture_output=True, text=True, timeout=120)


def _logs(root: Path) -> str:
    return "\n".join(f"==> {p}\n{p.read_text(errors='replace')[-2500:]}" for p in sorted(root.rglob("*.out"))
                     + sorted(root.rglob("restart-*.log")))


def test_raw_text_to_checkpoint_as_one_submit(slurm_cluster, tmp_path):
    root = tmp_path / "chain"
    done = _submit(slurm_cluster, root)
    assert done.returncode == 0, done.stderr
    chain = json.loads((root / "pipeline.json").read_text())["jobs"]
    stages = [entry["stage"] for entry in chain]
    assert stages[0].startswith("dataprep-") and stages[-3:] == ["tokenizer", "pack", "train"], stages
    assert slurm_cluster.wait_job(chain[-1]["job"], timeout=600) == "COMPLETED", _logs(root)

    metrics = [json.loads(line) for line in (root / "train" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == list(range(1, TINY["train.steps"] + 1))
    assert (root / "tokenizer" / "tokenizer.model").is_file() and (root / "packed" / "manifest.json").is_file()
    assert any((root / "train" / "checkpoints").glob("step_*"))
    status = subprocess.run([sys.executable, "-m", "pipeline.cli", "status", str(root)], cwd=REPO,
                            env=slurm_cluster.env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert all(entry["job"] in status.stdout for entry in chain)
    assert re.search(rf"training: step {TINY['train.steps']}/{TINY['train.steps']} \| loss", status.stdout), status.stdout

    again = _submit(slurm_cluster, root)             # every output verified: nothing is queued again
    assert again.returncode == 0 and "every stage is complete already" in again.stdout, (again.stdout, again.stderr)


def test_a_step_job_requeues_itself_before_its_time_limit(slurm_cluster, tmp_path):
    """Data-prep, tokenizer and pack jobs: the USR1 Slurm sends before the time limit makes the job
    requeue itself; the rerun (SLURM_RESTART_COUNT 1) finishes."""
    from pipeline.launch.pipeline_jobs import command_job
    from pipeline.launch.slurm import JobSettings, submit_prepared

    settings = JobSettings(python=sys.executable, workdir=str(REPO), time="5")
    job = command_job(settings, "fake", ["sh", "-c", 'if [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then sleep 60; fi; '
                                                     'echo finished'], tmp_path, "test")
    job_id = submit_prepared(job, env=slurm_cluster.env)
    log = tmp_path / "logs" / f"fake-{job_id}.out"
    deadline = time.monotonic() + 60
    while not (log.exists() and "task 0 of 1" in log.read_text()):
        assert time.monotonic() < deadline, slurm_cluster.logs()
        time.sleep(0.3)
    time.sleep(1)                                   # the trap is set before the command starts
    slurm_cluster.run("scancel", "--signal=USR1", "--batch", job_id)
    assert slurm_cluster.wait_job(job_id, timeout=120) == "COMPLETED", log.read_text()
    text = log.read_text()
    assert "USR1 before the time limit: requeueing" in text and f"job {job_id} run 1 on" in text, text
    assert text.rstrip().endswith("finished"), text
