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
    "export-hf": "pipeline.export_hf",
    "plan": "pipeline.plan",
}


def main(argv: list[str] | None = None) -> int:
    return run_cli("pretrain", "Pretraining: train, consolidate, generate, export, plan, submit to Slurm.", COMMANDS, argv)


if __name__ == "__main__":
    raise SystemExit(main())
