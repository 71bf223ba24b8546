"""The shipped configs point where the commands write, and the GPU job trains a GPU config."""
from __future__ import annotations

from pathlib import Path

import pytest

from common.config import load_config
from pipeline.config import TrainConfig
from pipeline.e2e import E2EConfig
from pipeline.launch.slurm import SlurmConfig

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["tiny_cpu", "tp2", "pp2", "tp2_dp2"])
def test_cpu_training_configs_read_what_the_sample_script_packs(name):
    sample = load_config(E2EConfig, REPO / "configs/e2e/sample_cpu.yaml")
    train = load_config(TrainConfig, REPO / f"configs/train/{name}.yaml")
    assert Path(train.data.packed_dir) == Path(sample.out) / "packed"


def test_the_gpu_job_trains_in_bf16_not_the_cpu_test_config():
    job = load_config(SlurmConfig, REPO / "configs/slurm/h100_2node.yaml")
    train = load_config(TrainConfig, REPO / job.train_config)
    assert train.train.precision == "bf16" and train.model.n_layers >= 24 and "cpu" not in job.train_config
