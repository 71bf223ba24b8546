"""`pretrain submit-pipeline`: raw text to a trained model as one chain of Slurm jobs, and
`pretrain status` to follow it.

    data-prep steps (job arrays) -> tokenizer training -> pack -> pretraining [-> consolidate + eval]

Each stage is its own job, queued with `--dependency=afterok:<previous>` and
`--kill-on-invalid-dep=yes`, so a failure cancels what follows. A stage whose output is already
complete (its manifest or model file is there) is not queued again: resubmitting the same command
after a failure resumes the chain where it stopped. Everything lands under one root directory:
<root>/data (cleaned corpus), <root>/tokenizer, <root>/packed, <root>/train (the run directory),
<root>/pipeline.json (which job runs which stage).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from common.atomic import write_text
from common.config import ConfigError, load_config
from pipeline.launch.dataprep_jobs import DataprepJobConfig, prepare_dataprep
from pipeline.launch.slurm import (JobSettings, PreparedJob, SlurmConfig, SubmitError, job_state, preflight,
                                   prepare_training, render_template, submit_prepared)
from pipeline.metrics import read_metrics


def command_job(settings: JobSettings, stage: str, argv: list[str], root: Path, source: str) -> PreparedJob:
    """One non-array stage (tokenizer training, pack) as a requeueable job."""
    lines = settings.directives(output=f"{root}/logs/{stage}-%j.out") + settings.requeue_directives()
    script = render_template("step.sbatch.tmpl", {
        "sbatch_lines": "\n".join(lines), "command_name": "submit-pipeline", "source": source.replace("\n", " "),
        "stage": stage, "ntasks": 1, "env_exports": settings.env_exports(), "command": shlex.join(argv)})
    return PreparedJob(script, root / "slurm" / f"{stage}.sbatch", {}, root / "logs")


def plan_chain(args: argparse.Namespace) -> tuple[list[tuple[str, PreparedJob, Path]], Path, SlurmConfig]:
    """(stage, job, the file that proves it done) for every stage still to run, in order; the
    training job last, unless its metrics already reach train.steps."""
    from dataprep.tokenizer.config import TokenizerConfig

    data_job = load_config(DataprepJobConfig, args.data_job, args.data_override)
    train_job = load_config(SlurmConfig, args.train_job, args.overrides)
    workdir = train_job.resolved_workdir()
    root = (workdir / args.output).resolve()
    data, tok, packed, run = root / "data", root / "tokenizer", root / "packed", root / "train"
    vocab = load_config(TokenizerConfig, workdir / args.tokenizer_config, args.tokenizer_override).vocab_size
    python = train_job.python_command()
    steps: list[tuple[str, PreparedJob, Path]] = []
    if not (data / "manifest.json").is_file():
        jobs, _ = prepare_dataprep(data_job, args.data_job, [f"output={data}"])
        steps += [(f"dataprep-{step}", job, data / "manifest.json") for step, job in jobs]
    stage_settings = JobSettings(**{k: getattr(data_job, k) for k in JobSettings.__dataclass_fields__})
    if not (tok / "tokenizer.model").is_file():
        argv = [python, "-m", "dataprep.cli", "tokenizer", "train", "--config", str(workdir / args.tokenizer_config),
                "--input", str(data / "clean"), "-o", str(tok), *args.tokenizer_override]
        steps.append(("tokenizer", command_job(stage_settings, "tokenizer", argv, root, args.tokenizer_config),
                      tok / "tokenizer.model"))
    if not (packed / "manifest.json").is_file():
        argv = [python, "-m", "dataprep.cli", "pack", "--config", str(workdir / args.pack_config), "--input",
                str(data / "clean"), "--tokenizer", str(tok), "-o", str(packed), *args.pack_override]
        steps.append(("pack", command_job(stage_settings, "pack", argv, root, args.pack_config), packed / "manifest.json"))
    train = prepare_training(train_job, args.train_job, [f"run.dir={run}", f"data.packed_dir={packed}",
                                                     f"model.vocab_size={vocab}", *args.train_override])
    records = read_metrics(run / "metrics.jsonl") if (run / "metrics.jsonl").is_file() else []
    if not records or records[-1]["step"] < train.train.train.steps:      # else: trained to the end already
        steps.append(("train", train, run / "metrics.jsonl"))
    model = root / "model"
    if args.eval_tasks and not (model / "eval" / "results.json").is_file():
        cli = [python, "-m", "pipeline.cli"]
        script = (shlex.join([*cli, "consolidate", str(run), "-o", str(model)]) + " && " +
                  shlex.join([*cli, "eval", str(model), "--tokenizer", str(tok), "--tasks", args.eval_tasks,
                              "--run-dir", str(run)]))
        steps.append(("eval", command_job(stage_settings, "eval", ["sh", "-c", script], root, args.train_job),
                      model / "eval" / "results.json"))
    return steps, root, train_job


def submit_pipeline(args: argparse.Namespace) -> int:
    steps, root, train_cfg = plan_chain(args)
    if args.dry_run:
        for stage, job, _ in steps:
            sys.stdout.write(f"# ---- {stage}: {job.script_path} ----\n{job.script}")
        return 0
    if not steps:
        print(f"every stage is complete already: {root}")
        return 0
    training = [job for stage, job, _ in steps if stage == "train"]
    if training:
        preflight(train_cfg, training[0], data_ready=steps[0][0] == "train")   # nothing written before it passes
    submitted: list[dict[str, str]] = []
    try:
        for stage, job, _ in steps:
            after = [f"--dependency=afterok:{submitted[-1]['job']}", "--kill-on-invalid-dep=yes"] if submitted else []
            if stage == "train":
                from common.wandb_log import wandb_run_id
                (job.script_path.parent.parent / "slurm" / "consecutive_crashes").unlink(missing_ok=True)
                job.script_path.parent.parent.mkdir(parents=True, exist_ok=True)
                wandb_run_id(job.script_path.parent.parent)
            job.log_dir.mkdir(parents=True, exist_ok=True)
            job_id = submit_prepared(job, after, dict(os.environ))
            if stage == "train":
                write_text(job.script_path.parent / "lock", job_id + "\n")
            submitted.append({"stage": stage, "job": job_id})
            print(f"submitted {stage:<18} job {job_id}")
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if submitted:
            write_text(root / "pipeline.json", json.dumps({"root": str(root), "jobs": submitted}, indent=1) + "\n")
    print(f"  follow it: pretrain status {root}")
    return 0


def status_lines(root: Path) -> list[str]:
    """Each queued stage's job and state, then the training run's step, loss, restarts and ETA."""
    path = root / "pipeline.json"
    if not path.is_file():
        raise ConfigError(f"{path} not found: is {root} the -o directory of `pretrain submit-pipeline`?")
    jobs = json.loads(path.read_text(encoding="utf-8"))["jobs"]
    lines = [f"{'stage':<18} {'job':>8}  state"]
    for entry in jobs:
        state = job_state(entry["job"]) or "finished (no longer queued)"
        lines.append(f"{entry['stage']:<18} {entry['job']:>8}  {state}")
    run = root / "train"
    records = read_metrics(run / "metrics.jsonl") if (run / "metrics.jsonl").is_file() else []
    logs = sorted((run / "logs").glob("restart-*-*.log"), key=lambda p: p.stat().st_mtime)
    restarts = len(logs) - 1 if logs else 0
    progress = [line for p in logs[-1:] for line in p.read_text(encoding="utf-8", errors="replace").splitlines()
                if line.startswith("step ") and " | loss " in line]
    if progress:                     # the trainer's own progress line: step/total, loss, ..., ETA
        lines.append(f"training: {progress[-1]} | restarts {restarts}")
    elif records:
        lines.append(f"training: step {records[-1]['step']}, loss {records[-1]['loss']:.4f} | restarts {restarts}")
    else:
        lines.append("training: no step logged yet")
    return lines


def run_status(args: argparse.Namespace) -> int:
    print("\n".join(status_lines(Path(args.root).resolve())))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "submit-pipeline", help="raw text to a trained model as one chain of Slurm jobs",
        description=__doc__.split("\n\n")[0] + " Stages already complete are skipped.")
    parser.add_argument("--data-job", required=True, help="data-prep job YAML, e.g. configs/slurm/dataprep.yaml")
    parser.add_argument("--tokenizer-config", required=True, help="tokenizer YAML, e.g. configs/tokenizer/sample.yaml")
    parser.add_argument("--pack-config", default="configs/tokenizer/pack.yaml", help="pack YAML")
    parser.add_argument("--train-job", required=True,
                        help="training job (Slurm) YAML, e.g. configs/slurm/cpu_2node.yaml")
    parser.add_argument("-o", "--output", "--out", required=True, help="root directory of the whole chain")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides of the training job YAML")
    for flag, dest, what in (("-d", "data_override", "data-prep job"), ("-k", "tokenizer_override", "tokenizer"),
                             ("-p", "pack_override", "pack"), ("-t", "train_override", "training")):
        parser.add_argument(flag, dest=dest, action="append", default=[], metavar="KEY=VALUE",
                            help=f"override of the {what} config (repeatable)")
    parser.add_argument("--eval-tasks", default="",
                        help="after training: consolidate, then `pretrain eval` these tasks (e.g. zhen_mc_en,zhen_mc_zh); "
                             "results next to the model and in the run's W&B summary")
    parser.add_argument("--dry-run", action="store_true", help="print the scripts, write and submit nothing")
    parser.set_defaults(func=submit_pipeline)
    status = subparsers.add_parser("status", help="the jobs of a submit-pipeline chain and its training progress")
    status.add_argument("root", help="the -o directory given to submit-pipeline")
    status.set_defaults(func=run_status)
