"""The rendered pretraining job on the two-node test cluster: runs to the end, and survives
a time-limit signal by checkpointing, requeueing and resuming as the same W&B run."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from train_fixtures import tiny_overrides, write_corpus

pytestmark = pytest.mark.slurm
REPO = Path(__file__).resolve().parents[1]


def _submit(cluster, tmp_path: Path, slurm: tuple[str, ...] = (), **train: object) -> tuple[str, Path]:
    run_dir = tmp_path / "run"
    overrides = tiny_overrides(write_corpus(tmp_path / "packed"), run_dir, **{"wandb.mode": "offline", **train})
    cmd = [sys.executable, "-m", "pipeline.cli", "submit", "--config", "configs/slurm/cpu_2node.yaml",
           f"python={sys.executable}", f"workdir={REPO}", "time=5", *slurm]
    for item in overrides:
        cmd += ["-t", item]
    done = subprocess.run(cmd, cwd=REPO, env=cluster.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    job_id = re.search(r"submitted job (\d+)", done.stdout).group(1)
    assert (run_dir / "wandb_run_id").read_text().strip() in done.stdout
    return job_id, run_dir


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _logs(run_dir: Path) -> str:
    return "\n".join(f"==> {p.name}\n{p.read_text()[-3000:]}" for p in sorted((run_dir / "logs").glob("*")))


def test_two_node_job_trains_to_the_end(slurm_cluster, tmp_path):
    job_id, run_dir = _submit(slurm_cluster, tmp_path, **{"train.steps": 30})
    state = slurm_cluster.wait_job(job_id, timeout=150)
    assert state == "COMPLETED", _logs(run_dir)
    log = (run_dir / "logs" / f"restart-{job_id}-0.log").read_text()
    assert re.search(r"starting on n\[1-2\]: 2 ranks, rendezvous n1:\d+", log), log
    assert "training finished" in log and not (run_dir / "logs" / f"restart-{job_id}-1.log").exists()
    assert re.search(r"rank 1 \(local 0\) on n2", log), log          # which host runs which rank
    metrics = _metrics(run_dir)
    assert [m["step"] for m in metrics] == list(range(1, 31))
    first, last = metrics[0]["loss"], sum(m["loss"] for m in metrics[-5:]) / 5
    assert last < first - 0.3, (first, last)
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir() if p.is_dir())
    assert checkpoints, log


def test_signal_checkpoints_requeues_and_resumes_as_one_run(slurm_cluster, tmp_path):
    steps = 80          # long enough that the signal lands mid-run on a fast, idle machine (16 once raced)
    job_id, run_dir = _submit(slurm_cluster, tmp_path, **{"train.steps": steps, "checkpoint.every": 1000,
                                                          "train.eval_every": 1000})
    deadline = time.monotonic() + 90
    metrics = run_dir / "metrics.jsonl"
    while not metrics.exists() or metrics.read_text().count("\n") < 3:   # training runs: the trap is set
        assert time.monotonic() < deadline and slurm_cluster.job_state(job_id) in ("PENDING", "RUNNING"), \
            _logs(run_dir)
        time.sleep(0.3)
    slurm_cluster.run("scancel", "--signal=USR1", "--batch", job_id)
    state = slurm_cluster.wait_job(job_id, timeout=150)
    assert state == "COMPLETED", _logs(run_dir)

    first = (run_dir / "logs" / f"restart-{job_id}-0.log").read_text()
    second = (run_dir / "logs" / f"restart-{job_id}-1.log").read_text()
    assert "USR1: asking the ranks to checkpoint" in first and "ranks exited with 85" in first, first
    assert "requeueing" in first
    stopped_at = int(re.search(r"stopped by signal at step (\d+)", first).group(1))
    assert 3 <= stopped_at < steps
    assert f"at step {stopped_at}" in second and "training finished" in second, second
    assert not (run_dir / "logs" / f"restart-{job_id}-2.log").exists()
    # one Slurm log holds both runs (--open-mode=append)
    assert (run_dir / "logs" / f"slurm-{job_id}.out").read_text().count("starting on") == 2

    assert [m["step"] for m in _metrics(run_dir)] == list(range(1, steps + 1))
    run_id = (run_dir / "wandb_run_id").read_text().strip()
    offline_runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 2 and all(p.name.endswith(f"-{run_id}") for p in offline_runs), offline_runs


@pytest.mark.parametrize("exit_code, settings, runs", [
    (1, ["max_crash_requeues=1", "max_requeues=5"], 2),     # a crash requeues once, the second one stops
    (139, ["max_crash_requeues=1", "max_requeues=5"], 2),   # node-local, but a 2-node job cannot spare n2
    (85, ["max_crash_requeues=0", "max_requeues=1"], 2),    # requeue requests stop at max_requeues
    (2, ["max_crash_requeues=5", "max_requeues=5"], 1),     # a config / data error is final
    (3, ["max_crash_requeues=5", "max_requeues=5"], 1),     # so is the loss guard's divergence
])
def test_requeue_limits(slurm_cluster, tmp_path, exit_code, settings, runs):
    # the requeue rules live in the batch script: a stand-in "trainer" that always exits the same way
    # on rank 1; after a failure rank 0 waits to be killed (srun --kill-on-bad-exit: it reports 143,
    # not the cause); a requeue request (85) comes from every rank
    fake = tmp_path / "fake-python"
    fake.write_text(f'#!/bin/sh\nif [ "$RANK" = 1 ] || [ {exit_code} = 85 ]; then exit {exit_code}; fi\nsleep 60\n')
    fake.chmod(0o755)
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "submit", "--config", "configs/slurm/cpu_2node.yaml",
                           f"python={fake}", f"workdir={REPO}", *settings, "-t", f"run.dir={run_dir}",
                           "-t", f"data.packed_dir={write_corpus(tmp_path / 'packed')}"],
                          cwd=REPO, env=slurm_cluster.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    job_id = re.search(r"submitted job (\d+)", done.stdout).group(1)
    assert slurm_cluster.wait_job(job_id, timeout=80) == "FAILED", _logs(run_dir)
    logs = sorted(p.name for p in (run_dir / "logs").glob("restart-*.log"))
    assert logs == [f"restart-{job_id}-{i}.log" for i in range(runs)], _logs(run_dir)
    last = (run_dir / "logs" / f"restart-{job_id}-{runs - 1}.log").read_text()
    assert "not requeueing" in last
    if exit_code != 85:
        assert re.search(rf"first failing rank: 1 on n2, exit {exit_code} ", last), last
    if exit_code == 139:
        first = (run_dir / "logs" / f"restart-{job_id}-0.log").read_text()
        assert "would leave 1 usable node(s) in partition debug for this 2-node job: requeueing without " \
               "excluding it" in first, first
        assert "excluded nodes: none" in last, last


def test_a_node_local_crash_requeues_without_that_node(slurm_cluster, tmp_path):
    """A 1-node job whose rank dies of SIGSEGV on the node it first ran on (a stand-in for a bad GPU or
    bad memory there): the crash requeue adds that node to the job's ExcNodeList and the next run,
    on the other node, finishes. The stand-in trainer keeps it to seconds; resuming is tested above."""
    bad_node, ran_on = tmp_path / "bad-node", tmp_path / "finished-on"
    fake = tmp_path / "fake-python"
    fake.write_text(f'#!/bin/sh\n[ -e {bad_node} ] || echo "$SLURMD_NODENAME" > {bad_node}\n'
                    f'[ "$(cat {bad_node})" = "$SLURMD_NODENAME" ] && kill -SEGV $$\necho "$SLURMD_NODENAME" > {ran_on}\n')
    fake.chmod(0o755)
    job_id, run_dir = _submit(slurm_cluster, tmp_path, ("nodes=1", "max_crash_requeues=1", f"python={fake}"))
    assert slurm_cluster.wait_job(job_id, timeout=60) == "COMPLETED", _logs(run_dir)
    bad = bad_node.read_text().strip()
    good = ({"n1", "n2"} - {bad}).pop()
    first = (run_dir / "logs" / f"restart-{job_id}-0.log").read_text()
    assert f"first failing rank: 0 on {bad}, exit 139" in first, first
    assert f"exit 139 blames node {bad} (node-local): the next run excludes {bad}" in first, first
    assert f"ExcNodeList set to {bad} for the next run" in first, first
    second = (run_dir / "logs" / f"restart-{job_id}-1.log").read_text()
    assert f"starting on {good}: 1 ranks" in second and f"excluded nodes: {bad}" in second, second
    assert "training finished" in second and ran_on.read_text().strip() == good, second


def _submit_cmd(tmp_path: Path, python: str, *settings: str, train: tuple[str, ...] = ()) -> list[str]:
    cmd = [sys.executable, "-m", "pipeline.cli", "submit", "--config", "configs/slurm/cpu_2node.yaml",
           f"python={python}", f"workdir={REPO}", *settings, "-t", f"run.dir={tmp_path / 'run'}"]
    for item in train:
        cmd += ["-t", item]
    return cmd


@pytest.mark.parametrize("settings, train, message", [
    (["partition=nosuch"], (), "invalid partition"),
    (["nodes=3"], ("parallel.global_batch=12",), "node configuration is not available"),   # the cluster has 2
    ([], ("parallel.tp=3",), "not divisible by parallel.tp"),
    ([], ("data.packed_dir=/nonexistent/packed",), "has no manifest.json"),
])
def test_submit_refuses_before_writing_anything(slurm_cluster, tmp_path, settings, train, message):
    """Each check runs before sbatch and before any file of the run directory is written."""
    packed = ("data.packed_dir=" + str(write_corpus(tmp_path / "packed")),)
    done = subprocess.run(_submit_cmd(tmp_path, sys.executable, *settings, train=packed + train),
                          cwd=REPO, env=slurm_cluster.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()


def test_one_job_per_run_directory(slurm_cluster, tmp_path):
    """A second submit into a run directory whose job is queued or running is refused with the
    holder's id; a second job started there anyway (sbatch of the same script) stops with exit 2,
    final; once the holder is gone its stale lock is taken over."""
    sleeper = tmp_path / "sleep-python"
    sleeper.write_text("#!/bin/sh\nsleep 120\n")
    sleeper.chmod(0o755)
    packed = ("data.packed_dir=" + str(write_corpus(tmp_path / "packed")),)
    first = subprocess.run(_submit_cmd(tmp_path, str(sleeper), train=packed), cwd=REPO, env=slurm_cluster.env,
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    holder = re.search(r"submitted job (\d+)", first.stdout).group(1)
    run_dir = tmp_path / "run"
    assert (run_dir / "slurm" / "lock").read_text().strip() == holder

    second = subprocess.run(_submit_cmd(tmp_path, str(sleeper), train=packed), cwd=REPO, env=slurm_cluster.env,
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 2 and f"held by job {holder}" in second.stderr, second.stderr

    deadline = time.monotonic() + 60
    while slurm_cluster.job_state(holder) != "RUNNING":
        assert time.monotonic() < deadline, _logs(run_dir)
        time.sleep(0.3)
    intruder = slurm_cluster.run("sbatch", "--parsable", str(run_dir / "slurm" / "job.sbatch")).stdout.strip()
    assert slurm_cluster.wait_job(intruder, timeout=60) == "FAILED", _logs(run_dir)
    log = (run_dir / "logs" / f"restart-{intruder}-0.log").read_text()
    assert f"held by job {holder}" in log and "starting on" not in log, log
    assert (run_dir / "slurm" / "lock").read_text().strip() == holder

    slurm_cluster.run("scancel", holder)
    slurm_cluster.wait_job(holder, timeout=60)
    third = subprocess.run(_submit_cmd(tmp_path, "/bin/true", train=packed), cwd=REPO, env=slurm_cluster.env,
                           capture_output=True, text=True, timeout=60)
    assert third.returncode == 0, third.stderr
    taker = re.search(r"submitted job (\d+)", third.stdout).group(1)
    assert slurm_cluster.wait_job(taker, timeout=60) == "COMPLETED", _logs(run_dir)
    assert not (run_dir / "slurm" / "lock").exists()       # released at the end


def test_a_stopped_rank_is_detected_and_the_job_requeues_and_resumes(slurm_cluster, tmp_path):
    """SIGSTOP one rank mid-training: rank 0's step watchdog dumps its stacks and exits 86, the job
    requeues itself and the resumed run finishes with every step once and the losses of an
    uninterrupted run."""
    steps = 40
    no_wandb = ("env={WANDB_MODE: disabled}",)        # W&B's resume after a requeue is tested on its own
    job_id, run_dir = _submit(slurm_cluster, tmp_path, no_wandb, **{"train.steps": steps, "checkpoint.every": 5,
                                                                    "train.eval_every": 1000, "hang.watchdog_min_s": 10})
    deadline = time.monotonic() + 120
    while len(_metrics(run_dir)) < 8:
        assert time.monotonic() < deadline and slurm_cluster.job_state(job_id) in ("PENDING", "RUNNING"), _logs(run_dir)
        time.sleep(0.3)
    ranks = [pid for pid in map(int, subprocess.run(["pgrep", "-f", f"{run_dir}/slurm/train.yaml"], capture_output=True,
                                                     text=True).stdout.split())
             if b"RANK=1\0" in Path(f"/proc/{pid}/environ").read_bytes() and
             b"pipeline.train" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(ranks) == 1, ranks
    os.kill(ranks[0], signal.SIGSTOP)
    assert slurm_cluster.wait_job(job_id, timeout=240) == "COMPLETED", _logs(run_dir)
    first = (run_dir / "logs" / f"restart-{job_id}-0.log").read_text()
    assert "watchdog (rank 0): no training step finished" in first and "first failing rank: 0" in first, first
    assert "a rank's watchdog saw no step finish in time (exit 86)" in first and "requeueing" in first
    second = (run_dir / "logs" / f"restart-{job_id}-1.log").read_text()
    assert "training finished" in second, second
    resumed = _metrics(run_dir)
    assert [m["step"] for m in resumed] == list(range(1, steps + 1))
    # the same job never interrupted: every loss equal, bit for bit
    ref_id, ref_dir = _submit(slurm_cluster, tmp_path / "reference", no_wandb,
                              **{"train.steps": steps, "checkpoint.every": 5, "train.eval_every": 1000})
    assert slurm_cluster.wait_job(ref_id, timeout=240) == "COMPLETED", _logs(ref_dir)
    assert [m["loss"] for m in resumed] == [m["loss"] for m in _metrics(ref_dir)]
