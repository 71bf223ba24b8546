"""`pretrain submit-dataprep`: the data-preparation run as a chain of Slurm jobs.

Each step of `dataprep.runner` becomes one job: per-shard ("map") steps are job arrays of
`ntasks` tasks (`dataprep run --step S --task $SLURM_ARRAY_TASK_ID --ntasks N`), global
("reduce") steps a single task. Every job waits for the one before with
`--dependency=afterok:<id>`; `--kill-on-invalid-dep=yes` cancels the rest of the chain when
a task fails. Resubmitting the same config resumes: finished shards are skipped.
Rendering and sbatch go through `pipeline.launch.slurm`, like the training job.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from pathlib import Path

from common.config import ConfigError, dump_yaml, load_config
from pipeline.launch.slurm import (JobSettings, PreparedJob, SubmitError, render_template, sbatch_line,
                                   submit_prepared)


@dataclasses.dataclass
class DataprepJobConfig(JobSettings):
    """A data-prep run on Slurm: which data config, how wide the arrays, which steps."""

    job_name: str = "zhen-dataprep"
    data_config: str = "configs/data/sample.yaml"
    overrides: list[str] = dataclasses.field(default_factory=list)   # key=value for the data config
    ntasks: int = 4                     # array tasks per per-shard step
    max_parallel: int = 0               # array tasks running at once (0 = no limit)
    steps: list[str] = dataclasses.field(default_factory=list)       # empty = every step, in order

    def validate(self) -> None:
        super().validate()
        if self.ntasks < 1 or self.max_parallel < 0:
            raise ConfigError(f"ntasks must be >= 1 and max_parallel >= 0, got {self.ntasks} and {self.max_parallel}")


def prepare_dataprep(cfg: DataprepJobConfig, source: str,
                     data_overrides: list[str] | None = None) -> tuple[list[tuple[str, PreparedJob]], Path]:
    """One rendered job per step, in order, plus the run's output directory."""
    from dataprep.config import DataConfig
    from dataprep.runner import MAP_STEPS, STEPS

    unknown = [s for s in cfg.steps if s not in STEPS]
    if unknown:
        raise ConfigError(f"steps: unknown step {unknown[0]!r}; steps are {', '.join(STEPS)}")
    workdir = cfg.resolved_workdir()
    data = load_config(DataConfig, workdir / cfg.data_config, [*cfg.overrides, *(data_overrides or [])])
    out = (workdir / data.output).resolve()
    data = dataclasses.replace(data, output=str(out), num_workers=cfg.cpus_per_task)
    data_yaml = out / "slurm" / "data.yaml"
    jobs = []
    for step in cfg.steps or STEPS:
        step_cfg = dataclasses.replace(cfg, job_name=f"{cfg.job_name}-{step}")
        is_map = step in MAP_STEPS
        log = f"{out}/slurm/logs/{step}-%A_%a.out" if is_map else f"{out}/slurm/logs/{step}-%j.out"
        lines = step_cfg.directives(output=log) + step_cfg.requeue_directives()
        if is_map:
            limit = f"%{cfg.max_parallel}" if cfg.max_parallel else ""
            lines.append(sbatch_line("--array", f"0-{cfg.ntasks - 1}{limit}"))
        ntasks = cfg.ntasks if is_map else 1
        command = (shlex.join([cfg.python_command(), "-m", "dataprep.cli", "run", "--config", str(data_yaml),
                               "--step", step, "--ntasks", str(ntasks)]) + ' --task "${SLURM_ARRAY_TASK_ID:-0}"')
        script = render_template("step.sbatch.tmpl", {
            "sbatch_lines": "\n".join(lines), "command_name": "submit-dataprep", "source": source.replace("\n", " "),
            "stage": f"data-prep step {step}", "ntasks": ntasks, "env_exports": cfg.env_exports(), "command": command})
        files = {data_yaml: dump_yaml(data)} if not jobs else {}
        jobs.append((step, PreparedJob(script, out / "slurm" / f"{step}.sbatch", files, out / "slurm" / "logs")))
    return jobs, out


def submit_chain(jobs: list[tuple[str, PreparedJob]], env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Queue the jobs in order, each after the previous one succeeded; returns (step, job id)."""
    submitted: list[tuple[str, str]] = []
    for step, job in jobs:
        args = [f"--dependency=afterok:{submitted[-1][1]}", "--kill-on-invalid-dep=yes"] if submitted else []
        submitted.append((step, submit_prepared(job, args, env)))
    return submitted


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "submit-dataprep", help="run data preparation on Slurm as a chain of job arrays",
        description="Render slurm/step.sbatch.tmpl once per dataprep step and queue the chain: "
                    "per-shard steps as job arrays, each step after the previous one succeeded.")
    parser.add_argument("--config", required=True, help="data-prep job YAML, e.g. configs/slurm/dataprep.yaml")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides of the job YAML")
    parser.add_argument("-d", "--data-override", action="append", default=[], metavar="KEY=VALUE",
                        help="override of the data config, e.g. -d shard_size=5000 (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="print the scripts, write and submit nothing")
    parser.set_defaults(func=run_submit_dataprep)


def run_submit_dataprep(args: argparse.Namespace) -> int:
    cfg = load_config(DataprepJobConfig, args.config, args.overrides)
    jobs, out = prepare_dataprep(cfg, args.config, args.data_override)
    if args.dry_run:
        for step, job in jobs:
            sys.stdout.write(f"# ---- {job.script_path} ----\n{job.script}")
        return 0
    try:
        submitted = submit_chain(jobs, dict(os.environ))
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for step, job_id in submitted:
        print(f"submitted {step:<10} job {job_id}")
    print(f"  output  {out}   logs {out}/slurm/logs/   manifest {out}/manifest.json (after finalize)")
    return 0
