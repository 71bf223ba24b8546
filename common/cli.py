"""The shape both console entry points (`dataprep`, `pretrain`) share: a registry of subcommands.

Each registered module exposes `add_parser(subparsers)`, which adds its subcommand(s) and sets
`func` (args -> exit code). Only the module of the subcommand asked for is imported, so a slow
import (torch) or a broken module never slows or breaks the others; `--help` lists them all.
A `ConfigError` from any command becomes one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable

from common.config import ConfigError

AddParsers = Callable[[argparse._SubParsersAction], None]


def build_parser(prog: str, description: str, commands: dict[str, str], argv: list[str],
                 add_builtin: AddParsers | None = None, builtin: tuple[str, ...] = ()
                 ) -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser, plus a note for each registered module that could not be loaded."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if add_builtin is not None:
        add_builtin(subparsers)
    first = argv[0] if argv else None
    wanted = [first] if first in commands else [] if first in builtin else list(commands)
    unavailable = []
    for module_name in dict.fromkeys(commands[name] for name in wanted):
        try:
            importlib.import_module(module_name).add_parser(subparsers)
        except (ImportError, AttributeError) as exc:
            unavailable.append(f"{module_name} ({exc})")
    if unavailable:
        parser.epilog = "unavailable: " + "; ".join(unavailable)
    return parser, unavailable


def run_cli(prog: str, description: str, commands: dict[str, str], argv: list[str] | None = None,
            add_builtin: AddParsers | None = None, builtin: tuple[str, ...] = ()) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, unavailable = build_parser(prog, description, commands, argv, add_builtin, builtin)
    if argv and argv[0] in commands and unavailable:
        print(f"error: {prog} {argv[0]} is unavailable: {unavailable[0]}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
