"""`dataprep`: one console entry point; subcommands register themselves.

`run` and `report` are defined here; other subcommands live in the modules of COMMANDS, each
exposing `add_parser(subparsers)` (see common/cli.py); adding one is a one-line change here.
"""
from __future__ import annotations

import argparse
import sys

from common.cli import run_cli
from common.config import ConfigError

# subcommand -> module that defines it (owned by the tokenizer / packing engineers)
COMMANDS: dict[str, str] = {
    "tokenizer": "dataprep.tokenizer.cli",
    "pack": "dataprep.pack_cli",
    "count": "dataprep.pack_cli",
    "export-megatron": "dataprep.pack_cli",
    "quality": "dataprep.stages.doc_score",
    "domain": "dataprep.domain_train",
    "lines": "dataprep.stages.line_train",
    "clean-work": "dataprep.clean_work",
}
BUILTIN = ("run", "report")


def data_config(args: argparse.Namespace):
    """The run's DataConfig: --config, then --output, then key=value overrides."""
    from common.config import load_config
    from dataprep.config import DataConfig

    if not args.config and not args.overrides:
        raise ConfigError("give --config FILE (see configs/data/) and/or key=value overrides")
    flags = {k: v for k, v in (("output", args.output), ("fail_share", 1.0 if args.allow_mostly_removed else None),
                               ("wandb", {"enabled": True} if args.wandb else None)) if v}
    return load_config(DataConfig, args.config, args.overrides, data=flags)


def cmd_run(args: argparse.Namespace) -> int:
    from dataprep import runner

    if args.list_steps:
        for step in runner.STEPS:
            print(f"{step}\t{'map' if step in runner.MAP_STEPS else 'reduce'}")
        return 0
    cfg = data_config(args)
    try:
        if args.step:
            runner.run_step(cfg, args.step, args.task, args.ntasks)
            print(f"step {args.step} done (task {args.task} of {args.ntasks})", file=sys.stderr)
            return 0
        manifest = runner.run_all(cfg)
    except runner.RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in runner.quarantine_summary(runner.Run(cfg).out):
        print(f"quarantined: {line}", file=sys.stderr)
    print(f"docs in {manifest['docs_in']}: kept {manifest['kept']}, removed {manifest['removed']}, "
          f"quarantined {manifest['quarantined']} -> {cfg.output}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dataprep.report import write_report

    run_dir = Path(args.run_dir)
    if not (run_dir / "manifest.json").is_file():
        raise ConfigError(f"{run_dir} has no manifest.json: run `dataprep run` to the end first")
    print(write_report(run_dir, args.packed))
    return 0


def add_builtin_parsers(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run", help="clean and deduplicate a raw corpus",
        description="Read, normalise, filter and deduplicate raw text into parquet shards. Without "
                    "--step every step runs locally and finished work is skipped (resume). With --step, "
                    "one step runs: map steps (read, linecount, filter, lsh, write) take --task/--ntasks for "
                    "Slurm arrays; global steps (plan, dedup, finalize) run once.")
    run.add_argument("--config", help="data YAML, e.g. configs/data/sample.yaml")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. num_workers=4")
    run.add_argument("-o", "--output", help="output directory (the config's `output`)")
    run.add_argument("--allow-mostly-removed", action="store_true",
                     help="do not fail when quarantine or one removal reason takes nearly all records (fail_share=1)")
    run.add_argument("--wandb", action="store_true",
                     help="send the finished run's counts to W&B (wandb.enabled=true; offline files under "
                          "<output>/wandb unless logged in)")
    run.add_argument("--step", help="run only this step (see --list-steps)")
    run.add_argument("--task", type=int, default=0, help="this task's number, 0-based (map steps)")
    run.add_argument("--ntasks", type=int, default=1, help="number of tasks sharing a map step")
    run.add_argument("--list-steps", action="store_true", help="print the steps in order with their kind")
    run.set_defaults(func=cmd_run, resolve_config=data_config)
    report = subparsers.add_parser(
        "report", help="write the HTML/Markdown report of a finished run",
        description="Read a run's manifest.json, removed.jsonl and clusters.jsonl and write a report.")
    report.add_argument("run_dir", help="the run's output directory (the `output` of its config)")
    report.add_argument("--packed", help="a `dataprep pack` output directory of this run's clean shards: the "
                                         "per-source, language and domain tables add its documents and tokens")
    report.set_defaults(func=cmd_report)


def main(argv: list[str] | None = None) -> int:
    return run_cli("dataprep", "Data preparation for Chinese + English text.", COMMANDS, argv, add_builtin_parsers, BUILTIN)


if __name__ == "__main__":
    raise SystemExit(main())
