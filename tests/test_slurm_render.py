"""The rendered sbatch scripts: directives, quoting, and rejection of injected values (no cluster)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.config import ConfigError, load_config
from pipeline.launch.slurm import SlurmConfig, prepare_training

REPO = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, overrides: list[str] | None = None) -> SlurmConfig:
    return load_config(SlurmConfig, REPO / "configs/slurm/cpu_2node.yaml",
                       [f"workdir={REPO}", *(overrides or [])])


def test_cpu_script_has_the_directives_and_a_resolved_config(tmp_path):
    job = prepare_training(_config(tmp_path), "test", [f"run.dir={tmp_path}/run"])
    lines = job.script.splitlines()
    for line in ["#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=1", "#SBATCH --signal=B:USR1@60",
                 "#SBATCH --open-mode=append", "#SBATCH --requeue", f"#SBATCH --chdir={REPO}",
                 f"#SBATCH --output={tmp_path}/run/logs/slurm-%j.out", "#SBATCH --time=00:10:00"]:
        assert line in lines
    assert not any("--gpus-per-node" in line for line in lines)
    # every directive comes before the first command, or sbatch ignores it
    first_command = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    assert max(i for i, line in enumerate(lines) if line.startswith("#SBATCH")) < first_command
    assert f"-m pipeline.train --config {tmp_path}/run/slurm/train.yaml" in job.script
    resolved = yaml.safe_load(job.files[tmp_path / "run/slurm/train.yaml"])
    assert resolved["run"]["dir"] == f"{tmp_path}/run"
    assert resolved["model"]["n_layers"] >= 1          # the model include was expanded
    assert subprocess.run(["bash", "-n"], input=job.script, text=True).returncode == 0


def test_gpu_script_runs_one_task_per_gpu(tmp_path):
    cfg = load_config(SlurmConfig, REPO / "configs/slurm/h100_2node.yaml", [f"workdir={REPO}"])
    script = prepare_training(cfg, "test", [f"run.dir={tmp_path}/run"]).script
    assert "#SBATCH --ntasks-per-node=8" in script and "#SBATCH --gpus-per-node=8" in script
    assert "#SBATCH --exclusive" in script and "#SBATCH --partition=gpu" in script
    assert "export PYTHONUNBUFFERED=${PYTHONUNBUFFERED:-1}" in script      # log lines as they are written


@pytest.mark.parametrize("override, words", [
    ("partition='gpu\n#SBATCH --wrap=id'", "partition"),
    ("account='a;touch /tmp/x'", "account"),
    ("time='1:00:00 --uid=0'", "time"),
    ("extra_sbatch=['--comment=$(id)']", "extra_sbatch[0]"),
    ("extra_sbatch=['--comment=x\n#SBATCH --nodes=99']", "extra_sbatch[0]"),
    ("extra_sbatch=['--output=/etc/passwd']", "--output is set"),
    ("extra_sbatch=['-w n1']", "extra_sbatch[0]"),
    ("env={'A;B': '1'}", "environment variable name"),
])
def test_injected_values_are_rejected(tmp_path, override, words):
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, [override])
    assert words in str(err.value)


def test_injected_run_dir_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="not allowed in an #SBATCH line"):
        prepare_training(_config(tmp_path), "test", [f"run.dir='{tmp_path}/x\n#SBATCH --uid=0'"])


def test_env_values_are_shell_quoted(tmp_path):
    marker = tmp_path / "pwned"
    value = f"$(touch {marker}); `touch {marker}` ' \" \n x"
    cfg = _config(tmp_path)
    cfg.env = {"EVIL": value}
    script = prepare_training(cfg, "test", [f"run.dir={tmp_path}/run"]).script
    exports = script[script.index("export EVIL="):script.index("# Slurm sends USR1")]
    out = subprocess.run(["bash", "-c", exports + '\nprintf %s "$EVIL"'], capture_output=True, text=True)
    assert out.stdout == value
    assert not marker.exists()


def test_cli_reports_a_bad_value_without_traceback():
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "submit", "--config",
                           "configs/slurm/cpu_2node.yaml", "--dry-run", "partition=a b"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("error: configs/slurm/cpu_2node.yaml: partition = 'a b' is not allowed")
    assert "Traceback" not in done.stderr


def test_gpu_cluster_knobs_render(tmp_path):
    """gres instead of --gpus-per-node, --exclusive, CPU binding, NCCL / gloo network variables,
    and a container per rank (pyxis flags on srun, or apptainer exec --nv before the trainer)."""
    base = ["gpus_per_node=4", "gpu_request=gres", "exclusive=true", "cpu_bind=cores",
            "network.socket_ifname=ib0", "network.ib_hca=mlx5_0,mlx5_1"]
    pyxis = prepare_training(_config(tmp_path, base + ["container.runtime=pyxis",
                                                       "container.image=nvcr.io#nvidia/pytorch:24.05-py3",
                                                       "container.mounts=['/data:/data','/home:/home']"]),
                             "test", [f"run.dir={tmp_path}/run"]).script
    assert "#SBATCH --gres=gpu:4" in pyxis and "--gpus-per-node" not in pyxis and "#SBATCH --exclusive" in pyxis
    assert "export NCCL_SOCKET_IFNAME=ib0" in pyxis and "export GLOO_SOCKET_IFNAME=ib0" in pyxis
    assert "export NCCL_IB_HCA=mlx5_0,mlx5_1" in pyxis
    srun = next(line for line in pyxis.splitlines() if line.startswith("srun "))
    assert "'--container-image=nvcr.io#nvidia/pytorch:24.05-py3'" in srun
    assert "--container-mounts=/data:/data,/home:/home" in srun and "--cpu-bind=cores" in srun
    apptainer = prepare_training(_config(tmp_path, base + ["container.runtime=apptainer",
                                                           "container.image=/images/zhen.sif",
                                                           "container.mounts=['/data']"]),
                                 "test", [f"run.dir={tmp_path}/run"]).script
    assert "apptainer exec --nv --bind=/data /images/zhen.sif" in apptainer
    plain = prepare_training(_config(tmp_path), "test", [f"run.dir={tmp_path}/run"]).script
    assert "container" not in plain and "apptainer" not in plain and "NCCL_SOCKET_IFNAME" not in plain
    with pytest.raises(ConfigError, match="container.image"):
        _config(tmp_path, ["container.runtime=pyxis"])
    with pytest.raises(ConfigError, match="network"):
        _config(tmp_path, ["network.socket_ifname='ib0; rm -rf /'"])


def test_pipeline_chain_renders_every_stage_and_the_eval_after_training(tmp_path):
    """`pretrain submit-pipeline --dry-run`: data-prep steps, tokenizer, pack, training and, with
    --eval-tasks, a consolidate + eval job that writes to the training run's W&B."""
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "submit-pipeline", "--data-job",
                           "configs/slurm/dataprep.yaml", "--tokenizer-config", "configs/tokenizer/sample.yaml",
                           "--train-job", "configs/slurm/cpu_2node.yaml", "-o", str(tmp_path / "chain"),
                           "--eval-tasks", "zhen_mc_en,zhen_mc_zh", "--dry-run"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    stages = re.findall(r"^# ---- (\S+): ", done.stdout, flags=re.M)
    assert stages[0] == "dataprep-plan" and stages[-4:] == ["tokenizer", "pack", "train", "eval"], stages
    eval_script = done.stdout.split("# ---- eval: ")[1]
    assert "consolidate" in eval_script and "--run-dir" in eval_script and "zhen_mc_en,zhen_mc_zh" in eval_script
    assert "#SBATCH --requeue" in eval_script and not (tmp_path / "chain").exists()
