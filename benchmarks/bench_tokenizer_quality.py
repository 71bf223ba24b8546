"""Tokenizer quality: our Chinese-aware settings vs sentencepiece library defaults, same data and vocab.

Trains each variant on --train, scores all on --heldout with `dataprep.tokenizer.eval`, prints
the Markdown table for docs/BENCHMARKS.md. Example (what the table there was made with):

    python benchmarks/bench_tokenizer_quality.py --train /tmp/tokbench/clean \
        --heldout /tmp/tokbench/heldout --vocab-size 64000 --out /tmp/tokbench/models
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from dataprep.tokenizer.config import TokenizerConfig
from dataprep.tokenizer.eval import analyse, evaluate, heldout_lines, markdown_table
from dataprep.tokenizer.train import train_tokenizer

# name -> (baseline kind or None, overrides of TokenizerConfig)
PLAIN = {"idiom_symbols": 0, "jieba_fraction": 0.0, "word_align_max_breaks": 0.0}
VARIANTS = {
    "library defaults": ("library", {}),
    "library + split_digits": ("library-digits", {}),
    "ours, plain BPE (no idioms, jieba or alignment)": (None, PLAIN),
    "ours, idioms only": (None, {**PLAIN, "idiom_symbols": 2000}),
    "ours, idioms + jieba 0.3, no alignment": (None, {"word_align_max_breaks": 0.0}),
    "ours, idioms + alignment, no jieba": (None, {"jieba_fraction": 0.0}),
    "**ours, default: idioms + jieba 0.3 + alignment**": (None, {}),
    "ours, idioms + jieba 1.0, no alignment": (None, {"jieba_fraction": 1.0, "word_align_max_breaks": 0.0}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", action="append", required=True, help="training files/dirs (repeatable)")
    parser.add_argument("--heldout", action="append", required=True, help="held-out files/dirs (repeatable)")
    parser.add_argument("--vocab-size", type=int, default=64000)
    parser.add_argument("--out", required=True, help="directory for the trained models")
    parser.add_argument("--only", action="append", help="run only these variant names")
    args = parser.parse_args()

    lines = analyse(heldout_lines(args.heldout))
    reports, seconds = [], {}
    for k, (name, (baseline, overrides)) in enumerate(VARIANTS.items()):
        if args.only and name not in args.only:
            continue
        config = dataclasses.replace(TokenizerConfig(vocab_size=args.vocab_size), **overrides)
        started = time.perf_counter()
        report = train_tokenizer(config, args.train, Path(args.out) / f"variant{k}", baseline=baseline)
        seconds[name] = round(time.perf_counter() - started, 1)
        reports.append(evaluate(name, report["model"], lines))
    print(markdown_table(reports))
    print("training seconds:", json.dumps(seconds, ensure_ascii=False))
    zh = sum(1 for a in lines if a.lang == "zh")
    print(f"held-out: {zh} zh lines, {len(lines) - zh} en lines, "
          f"{sum(len(a.words) for a in lines)} jieba words, {sum(len(a.idioms) for a in lines)} idiom occurrences")


if __name__ == "__main__":
    main()
