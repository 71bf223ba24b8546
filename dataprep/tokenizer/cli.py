"""`dataprep tokenizer train|eval|export-hf`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.atomic import write_json
from common.config import ConfigError, load_config
from dataprep.reader import InputError
from dataprep.tokenizer.files import HF_SUBDIR, sentencepiece_model


def tokenizer_config(args: argparse.Namespace):
    from dataprep.tokenizer.config import TokenizerConfig

    return load_config(TokenizerConfig, args.config, args.overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from dataprep.tokenizer.train import train_tokenizer

    config = tokenizer_config(args)
    try:
        report = train_tokenizer(config, args.input, args.output, baseline=args.baseline, verbose=args.verbose)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from dataprep.tokenizer.eval import analyse, evaluate, heldout_lines, markdown_table

    models = []
    for item in args.tokenizer:
        name, _, path = item.rpartition("=")
        model = sentencepiece_model(path)
        models.append((name or Path(model).parent.name or path, model))
    try:
        lines = analyse(heldout_lines(args.input, args.text_field, args.max_lines))
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    if not lines:
        raise ConfigError(f"no Chinese or English lines in {args.input}")
    reports = [evaluate(name, path, lines) for name, path in models]
    print(markdown_table(reports), end="")
    if args.json:
        write_json(args.json, [r.to_json() for r in reports])
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from dataprep.tokenizer.eval import heldout_lines
    from dataprep.tokenizer.hf_export import TokenizerExportError, export_tokenizer

    model = sentencepiece_model(args.tokenizer)
    output = args.output or str(Path(model).parent / HF_SUBDIR)
    texts = heldout_lines(args.check, max_lines=args.max_lines) if args.check else []
    if args.check and not texts:
        raise ConfigError(f"--check {' '.join(args.check)}: no text lines found to compare ids on")
    try:
        out = export_tokenizer(model, output, texts)
    except TokenizerExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"exported {model} -> {out} (ids identical to sentencepiece on {len(texts)} check lines + probes)")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tokenizer", help="train, evaluate and export the sentencepiece tokenizer",
                                   description="Sentencepiece tokenizer for Chinese + English text.")
    commands = parser.add_subparsers(dest="tokenizer_command", metavar="ACTION", required=True)

    train = commands.add_parser(
        "train", help="train a sentencepiece model from cleaned shards",
        description="Stream documents (parquet/jsonl/txt) into the sentencepiece trainer and write "
                    "<output>/tokenizer.model, tokenizer.vocab, tokenizer_config.yaml, train_report.json.")
    train.add_argument("--config", help="tokenizer YAML, e.g. configs/tokenizer/zh_en_64k.yaml")
    train.add_argument("--input", action="append", required=True, help="file, directory or glob (repeatable)")
    train.add_argument("-o", "--output", required=True, help="output directory (the tokenizer's directory)")
    train.add_argument("--baseline", choices=["library", "library-digits"],
                       help="train with sentencepiece's defaults instead (same lines, vocab size): the comparison point")
    train.add_argument("--verbose", action="store_true", help="show the sentencepiece trainer log")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. vocab_size=32000")
    train.set_defaults(func=cmd_train, resolve_config=tokenizer_config)

    evaluate = commands.add_parser(
        "eval", help="compare models on held-out text",
        description="Chinese/English chars per token, share of jieba words (>= 2 Han chars) and idioms that "
                    "are one token, byte-fallback and unk rates, round-trip exactness; one row per model.")
    evaluate.add_argument("--tokenizer", "--model", action="append", required=True, metavar="[NAME=]PATH",
                          help="tokenizer to score: its directory or tokenizer.model (repeatable)")
    evaluate.add_argument("--input", action="append", required=True, help="held-out file/dir/glob (repeatable)")
    evaluate.add_argument("--text-field", default="text", help="jsonl field / parquet column holding the text")
    evaluate.add_argument("--max-lines", type=int, default=0, help="score at most this many lines (0 = all)")
    evaluate.add_argument("--json", help="also write the reports to this JSON file")
    evaluate.set_defaults(func=cmd_eval)

    export = commands.add_parser(
        "export-hf", help="write a transformers AutoTokenizer directory",
        description="Convert a sentencepiece model for transformers.AutoTokenizer (offline) and check that "
                    "it gives the same ids as sentencepiece on probe texts and optional check files.")
    export.add_argument("--tokenizer", "--model", required=True,
                        help="the tokenizer: its directory or tokenizer.model")
    export.add_argument("-o", "--output", help="output directory (default: hf/ in the tokenizer's directory)")
    export.add_argument("--check", action="append", help="extra text file/dir to compare ids on (repeatable)")
    export.add_argument("--max-lines", type=int, default=2000, help="check at most this many lines")
    export.set_defaults(func=cmd_export)
