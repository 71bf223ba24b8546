"""Timings of the two-node Slurm test cluster: what the Slurm tests pay before any training.

Bring-up, submit -> running, a job's own `scontrol requeue` -> running again (cred_expire=5,
sched_interval=1), and teardown. Needs root (see docs/SLURM.md). Prints a Markdown table.

    sudo .venv/bin/python benchmarks/bench_slurm.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))   # the test cluster is test tooling
from slurm_testcluster import start_cluster  # noqa: E402

REQUEUE_ONCE = """#!/bin/bash
if [ -z "${SLURM_RESTART_COUNT:-}" ]; then
  date +%s.%N > "$1/requeued"; scontrol requeue "$SLURM_JOB_ID"; sleep 60
else
  date +%s.%N > "$1/restarted"
fi
"""


def _wait_for(path: Path, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} not written in {timeout:.0f} s")
        time.sleep(0.02)
    return float(path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    started = time.time()
    cluster = start_cluster()
    bring_up = time.time() - started
    work = cluster.root / "bench"
    work.mkdir()
    try:
        starts, requeues = [], []
        for i in range(args.repeat):
            marker = work / f"start-{i}"
            submitted = time.time()
            cluster.run("sbatch", f"--output={work}/%j.out", "--wrap", f"date +%s.%N > {marker}")
            starts.append(_wait_for(marker) - submitted)
        script = work / "requeue.sh"
        script.write_text(REQUEUE_ONCE)
        for i in range(args.repeat):
            run = work / f"requeue-{i}"
            run.mkdir()
            cluster.run("sbatch", f"--output={work}/%j.out", str(script), str(run))
            requeues.append(_wait_for(run / "restarted") - _wait_for(run / "requeued"))
    finally:
        started = time.time()
        cluster.stop()
        teardown = time.time() - started
    print("| measure | seconds |\n|---|---|")
    print(f"| bring-up (munged, slurmctld, 2 slurmd, nodes idle) | {bring_up:.1f} |")
    print(f"| submit -> running, median of {args.repeat} | {statistics.median(starts):.2f} |")
    print(f"| requeue -> running again, median of {args.repeat} | {statistics.median(requeues):.1f} |")
    print(f"| teardown (jobs, daemons, leftovers) | {teardown:.1f} |")


if __name__ == "__main__":
    main()
