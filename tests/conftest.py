"""Shared pytest fixtures. Keep each fixture short and say why it is shared."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def slurm_cluster():
    """A real two-node Slurm cluster (n1, n2) for the whole session; ~3 s to start.

    Installs Debian's slurm packages when missing (root + apt-get); skips only without those,
    and never in CI (CI=true), where these tests must run: there a missing cluster fails.
    Client commands need `cluster.env` (SLURM_CONF and the marker that lets teardown end
    every process the tests started through Slurm).
    """
    from slurm_testcluster import ClusterUnavailable, start_cluster

    try:
        cluster = start_cluster()
    except ClusterUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Slurm tests, but the test cluster is unavailable: {exc}")
        pytest.skip(f"no Slurm test cluster (needs root + apt): {exc}")
    cluster.env.update(slurm_job_env())
    yield cluster
    cluster.stop()


def slurm_job_env() -> dict[str, str]:
    """What jobs of the test suite need: one thread per rank, CPU DeepSpeed, offline W&B,
    and the suite's shared torch-extensions cache (scripts/test.sh sets the same default)."""
    return {
        "OMP_NUM_THREADS": "1",
        "DS_ACCELERATOR": "cpu",
        "PYTHONWARNINGS": "ignore::FutureWarning",
        "WANDB_MODE": "offline",
        "TORCH_EXTENSIONS_DIR": os.environ.get("TORCH_EXTENSIONS_DIR", str(REPO / ".venv" / "torch_extensions")),
    }
