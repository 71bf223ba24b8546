"""`pretrain`: one entry point whose subcommands live in their own modules (see common/cli.py)."""
from __future__ import annotations

from common.cli import run_cli

# subcommand -> module that defines it
COMMANDS: dict[str, str] = {
    "train": "pipeline.train",
    "consolidate": "pipeline.checkpoint",
    "checkpoints": "pipeline.checkpoint",
    "generate": "pipeline.generate",
    "submit": "pipeline.launch.slurm",
    "submit-dataprep": "pipeline.launch.dataprep_jobs",
    "submit-pipeline": "pipeline.launch.pipeline_jobs",
    "status": "pipeline.launch.pipeline_jobs",
    "export-hf": "pipeline.export_hf",
    "eval": "pipeline.evaluate",
    "plan": "pipeline.plan",
}



def _train_config() -> type:
    from pipeline.config import TrainConfig
    return TrainConfig


def _slurm_config() -> type:
    from pipeline.launch.slurm import SlurmConfig
    return SlurmConfig


def _dataprep_job_config() -> type:
    from pipeline.launch.dataprep_jobs import DataprepJobConfig
    return DataprepJobConfig


# subcommand -> its config dataclass, for `--print-config` (the modules need not know about it)
CONFIGS = {"train": _train_config, "submit": _slurm_config, "submit-dataprep": _dataprep_job_config}


def main(argv: list[str] | None = None) -> int:
    return run_cli("pretrain", "Pretraining: train, consolidate, generate, export, plan, submit to Slurm.", COMMANDS, argv,
                   configs=CONFIGS)


if __name__ == "__main__":
    raise SystemExit(main())
