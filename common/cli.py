"""The shape both console entry points (`dataprep`, `pretrain`) share: a registry of subcommands.

Each registered module exposes `add_parser(subparsers)`, which adds its subcommand(s) and sets
`func` (args -> exit code). Only the module of the subcommand asked for is imported, so a slow
import (torch) or a broken module never slows or breaks the others; `--help` lists them all.
A `ConfigError` from any command becomes one line on stderr and exit code 2, never a traceback.

Conventions every command follows, applied here so no command can drift from them:
- the output flag is `-o/--output`, with the older spelling `--out` accepted as an alias;
- `--print-config` prints the command's resolved settings as YAML (defaults expanded) and exits 0:
  the config dataclass when the command has one (a `resolve_config(args)` default, or a class in
  `configs` keyed by subcommand, loaded from `--config` + overrides), else its arguments.
  The YAML printed for a config dataclass is a valid `--config` for the same command.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Callable

import yaml

from common.config import ConfigError, dump_yaml, load_config

AddParsers = Callable[[argparse._SubParsersAction], None]
OUTPUT_FLAGS = ("-o", "--output", "--out")
HIDDEN_ARGS = ("func", "resolve_config", "print_config")


def leaf_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every runnable (sub)command's parser, keyed by its command path, e.g. "tokenizer train"."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {"": parser}
    found: dict[str, argparse.ArgumentParser] = {}
    for name, child in subs[0].choices.items():
        for path, leaf in leaf_parsers(child).items():
            found[f"{name} {path}".strip()] = leaf
    return found


def apply_conventions(parser: argparse.ArgumentParser) -> None:
    """Give every command the shared output spellings and `--print-config` (see the module docstring)."""
    for leaf in leaf_parsers(parser).values():
        flags = leaf._option_string_actions
        output = next((flags[f] for f in OUTPUT_FLAGS if f in flags), None)
        if output is not None:
            for flag in OUTPUT_FLAGS:
                flags.setdefault(flag, output)
            output.option_strings = [f for f in OUTPUT_FLAGS if flags[f] is output] + \
                [f for f in output.option_strings if f not in OUTPUT_FLAGS]
        if "--print-config" not in flags:
            leaf.add_argument("--print-config", action="store_true",
                              help="print the resolved settings (defaults expanded) as YAML and exit")


def resolved_config(args: argparse.Namespace, config_class: type | None) -> str:
    """The YAML `--print-config` prints."""
    resolve = getattr(args, "resolve_config", None)
    if resolve is not None:
        return dump_yaml(resolve(args))
    if config_class is not None:
        return dump_yaml(load_config(config_class, args.config, args.overrides))
    settings: dict[str, Any] = {k: v for k, v in vars(args).items() if k not in HIDDEN_ARGS}
    return yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)


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
    apply_conventions(parser)
    return parser, unavailable


def run_cli(prog: str, description: str, commands: dict[str, str], argv: list[str] | None = None,
            add_builtin: AddParsers | None = None, builtin: tuple[str, ...] = (),
            configs: dict[str, Callable[[], type]] | None = None) -> int:
    """`configs`: subcommand -> a function returning its config dataclass (imported only when asked for)."""
    argv = sys.argv[1:] if argv is None else argv
    parser, unavailable = build_parser(prog, description, commands, argv, add_builtin, builtin)
    if argv and argv[0] in commands and unavailable:
        print(f"error: {prog} {argv[0]} is unavailable: {unavailable[0]}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        if args.print_config:
            config_class = (configs or {}).get(argv[0])
            print(resolved_config(args, config_class() if config_class else None), end="")
            return 0
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
