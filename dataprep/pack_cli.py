"""`dataprep pack` (cleaned shards -> packed tokens) and `dataprep count` (token statistics)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from common.config import ConfigError, load_config
from dataprep.reader import InputError
from dataprep.tokenizer.files import sentencepiece_model


def pack_config(args: argparse.Namespace):
    """--config, then the flags, then key=value overrides."""
    from dataprep.pack import PackConfig

    flags = {k: v for k, v in (("inputs", args.input), ("tokenizer", args.tokenizer), ("output", args.output),
                               ("wandb", {"enabled": True} if args.wandb else None)) if v}
    return load_config(PackConfig, args.config, args.overrides, data=flags)


def cmd_pack(args: argparse.Namespace) -> int:
    from dataprep.pack import PackError, pack

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    config = pack_config(args)
    try:
        manifest = pack(config, log=lambda line: print(line, file=sys.stderr))
    except PackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for split, info in manifest["splits"].items():
        print(f"{split}: {info['num_documents']} documents, {info['num_tokens']} tokens "
              f"in {len(info['shards'])} shards")
    print(f"manifest: {Path(config.output) / 'manifest.json'}")
    return 0


def cmd_count(args: argparse.Namespace) -> int:
    from dataprep.pack import count_tokens
    from dataprep.packed import GROUPS, PackedFormatError, read_manifest

    if len(args.paths) == 1 and (Path(args.paths[0]) / "manifest.json").is_file():
        try:
            manifest = read_manifest(args.paths[0])
        except PackedFormatError as exc:
            raise ConfigError(str(exc)) from None
        result = {}
        for split, info in manifest["splits"].items():
            chars = manifest.get("characters", {}).get(split, 0)
            result[split] = {"documents": info["num_documents"], "tokens": info["num_tokens"], "characters": chars,
                             "chars_per_token": chars / info["num_tokens"] if info["num_tokens"] else 0.0,
                             **{f"by_{key}": info.get(f"by_{key}", {}) for key in GROUPS}}
    else:
        if not args.tokenizer:
            raise ConfigError("give --tokenizer MODEL to count tokens of text files")
        try:
            result = count_tokens(args.paths, sentencepiece_model(args.tokenizer), args.text_field)
        except InputError as exc:
            raise ConfigError(str(exc)) from None
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def cmd_export_megatron(args: argparse.Namespace) -> int:
    from dataprep.megatron import export_megatron
    from dataprep.packed import PackedFormatError

    try:
        manifest = export_megatron(args.packed, args.output, append_eod=not args.no_append_eod,
                                   log=lambda line: print(line, file=sys.stderr))
    except PackedFormatError as exc:
        raise ConfigError(str(exc)) from None
    for split, info in manifest["splits"].items():
        print(f"{split}: {info['num_documents']} documents, {info['num_tokens']} tokens in {len(info['shards'])} shards")
        print(f"  --data-path {info['data_path']}")
    print(f"manifest: {Path(args.output) / 'manifest.json'}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    pack = subparsers.add_parser(
        "pack", help="tokenize cleaned shards and pack them for training",
        description="Tokenize cleaned parquet shards in parallel (one shard per process task) into "
                    "<output>/{train,validation}/<shard>.bin/.idx plus manifest.json. Finished shards "
                    "are skipped on a rerun; a corrupted input names its shard.")
    pack.add_argument("--config", help="pack YAML, e.g. configs/tokenizer/pack.yaml")
    pack.add_argument("--input", action="append", help="cleaned shards: file, directory or glob (repeatable)")
    pack.add_argument("--tokenizer", help="the tokenizer: its directory or tokenizer.model")
    pack.add_argument("-o", "--output", help="packed output directory")
    pack.add_argument("--wandb", action="store_true",
                      help="send the documents, tokens and characters per split, source, language and domain to "
                           "W&B (wandb.enabled=true; offline files under <output>/wandb unless logged in)")
    pack.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. num_workers=4")
    pack.set_defaults(func=cmd_pack, resolve_config=pack_config)
    count = subparsers.add_parser(
        "count", help="documents, characters, tokens and chars/token of text files or a packed corpus",
        description="Count with a tokenizer over .txt (one document per non-empty line), .jsonl or "
                    ".parquet files or directories of them; or read the counts of a packed directory (per "
                    "split, and per source, language and domain).")
    count.add_argument("paths", nargs="+", help="text files / directories, or one packed directory")
    count.add_argument("--tokenizer", help="the tokenizer: its directory or tokenizer.model (not needed for a "
                                           "packed directory)")
    count.add_argument("--text-field", default="text", help="jsonl field / parquet column holding the text")
    count.set_defaults(func=cmd_count)
    export = subparsers.add_parser(
        "export-megatron", help="convert a packed directory to Megatron-Core's indexed dataset (.bin/.idx)",
        description="Write <output>/<split>/<shard>.bin/.idx in the MMIDIDX format that Megatron-LM and GPT-NeoX "
                    "read (megatron.core.datasets.indexed_dataset.IndexedDataset), one sequence per document "
                    "followed by the end-of-document token, plus manifest.json with checksums. The packed "
                    "shards are verified against their checksums first.")
    export.add_argument("packed", help="packed directory (the output of `dataprep pack`)")
    export.add_argument("-o", "--output", required=True, help="output directory")
    export.add_argument("--no-append-eod", action="store_true",
                        help="store documents without the end-of-document token (Megatron's preprocess_data "
                             "without --append-eod)")
    export.set_defaults(func=cmd_export_megatron)
