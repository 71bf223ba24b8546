"""`pretrain`: one entry point whose subcommands live in their own modules.

Each module in COMMANDS exposes `add_parser(subparsers)`, which adds its subcommand(s) and sets
`func` (args -> exit code). Only the module of the subcommand asked for is imported, so a slow
import (torch) or a broken module never slows or breaks the others; `--help` lists them all.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from common.config import ConfigError

# subcommand -> module that defines it
COMMANDS: dict[str, str] = {
    "train": "pipeline.train",
    "consolidate": "pipeline.checkpoint",
    "generate": "pipeline.generate",
    "submit": "pipeline.launch.slurm",
    "submit-dataprep": "pipeline.launch.dataprep_jobs",
    "export-hf": "pipeline.export_hf",
    "plan": "pipeline.plan",
}


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser, plus a note for each module that could not be loaded."""
    parser = argparse.ArgumentParser(prog="pretrain", description="Pretraining: train, submit to Slurm, ...")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = [argv[0]] if argv and argv[0] in COMMANDS else list(COMMANDS)
    unavailable = []
    for module_name in dict.fromkeys(COMMANDS[name] for name in wanted):
        try:
            importlib.import_module(module_name).add_parser(subparsers)
        except (ImportError, AttributeError) as exc:
            unavailable.append(f"{module_name} ({exc})")
    if unavailable:
        parser.epilog = "unavailable: " + "; ".join(unavailable)
    return parser, unavailable


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, unavailable = build_parser(argv)
    if argv and argv[0] in COMMANDS and unavailable:
        print(f"error: pretrain {argv[0]} is unavailable: {unavailable[0]}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
