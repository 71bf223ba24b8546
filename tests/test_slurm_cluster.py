"""The test cluster itself: two nodes that run steps, and a teardown that leaves no process."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from slurm_testcluster import marked_processes, start_cluster

pytestmark = pytest.mark.slurm


def test_two_nodes_run_one_step_each(slurm_cluster):
    assert slurm_cluster.node_states() == {"n1": "idle", "n2": "idle"}
    out = slurm_cluster.run("srun", "-N2", "--ntasks-per-node=1", "hostname").stdout.split()
    assert sorted(out) == ["n1", "n2"]


def test_teardown_ends_daemons_jobs_and_leaked_children(slurm_cluster, tmp_path):
    # a cluster of its own, so that stopping it does not disturb the session's cluster
    cluster = start_cluster(slurm_cluster.root.with_name(slurm_cluster.root.name + "-leak"))
    try:
        started = cluster.root / "started"
        # a job whose background child would outlive it, plus a submitter still waiting on it
        waiter = subprocess.Popen(["sbatch", "--wait", f"--output={cluster.root}/leak.out", "--wrap", f"(sleep 300 &); touch {started}; sleep 300"],
                                  env=cluster.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert started.exists(), cluster.logs()
        daemon_pids = [int(p.read_text()) for p in cluster.root.glob("run/*.pid")]
        assert len(daemon_pids) == 3                      # slurmctld, slurmd n1, slurmd n2
        assert len(marked_processes(str(cluster.root))) > 4
    finally:
        cluster.stop()
    waiter.wait(timeout=10)
    assert marked_processes(str(cluster.root)) == []
    for pid in daemon_pids:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert not cluster.root.exists()
