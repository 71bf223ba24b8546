"""Speed and effect of the cleaning stages (lines, quality, safety) on the bundled sample corpus.

Speed is CPU seconds per stage in one process (wall time on a shared machine lies), as
documents and characters per CPU second. Effect uses the sample's `noise` tags as ground
truth: for each kind of planted noise, the share of documents each stage removed or changed.

    python benchmarks/bench_cleaning_stages.py [--inputs data/sample/raw] [--no-box-tables]

It also lists why the real (unplanted) documents were removed; `--no-box-tables` leaves tables drawn
with box characters as they are (`lines.box_tables: false`), for the comparison.
"""
from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from pathlib import Path

from dataprep.core import Document, StageStats
from dataprep.stages.lines import LineCleaner, LinesConfig, line_keys
from dataprep.stages.normalize import normalize_text
from dataprep.stages.quality import QualityConfig, QualityFilter
from dataprep.stages.safety import PiiScrubber, SafetyConfig, SensitiveWordFilter
from sample_corpus import sample_documents


def load(inputs: Path) -> list[Document]:
    """Readable records with text, normalised as the runner does, tagged with their noise kind
    ("real": no synthetic change) and origin."""
    return [Document(d.id, normalize_text(d.text)[0], d.source,
                     {"noise": str(d.meta.get("noise") or "real").split(":")[0], "origin": d.meta.get("origin")})
            for d in sample_documents(inputs) if d.text.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--inputs", type=Path, default=Path("data/sample/raw"))
    parser.add_argument("--no-box-tables", action="store_true", help="lines.box_tables=false")
    args = parser.parse_args()
    docs = load(args.inputs)
    noise_of = {d.id: d.meta["noise"] for d in docs}
    original = {d.id: d.text for d in docs}

    lines_cfg = LinesConfig(box_tables=not args.no_box_tables)
    start = time.process_time()
    counts: Counter[str] = Counter()
    for doc in docs:
        counts.update(set(line_keys(doc, lines_cfg)))
    repeated = {k for k, n in counts.items() if n >= lines_cfg.min_docs}
    key_cpu = time.process_time() - start

    stages = [LineCleaner(lines_cfg, repeated), QualityFilter(QualityConfig()),
              SensitiveWordFilter(SafetyConfig()), PiiScrubber(SafetyConfig())]
    print(f"{len(docs)} documents, {sum(len(d.text) for d in docs) / 1e6:.2f} M chars; "
          f"line keys: {key_cpu:.2f} CPU s, {len(repeated)} repeated keys\n")
    print("| stage | docs in | removed | changed | CPU s | docs/CPU s | M chars/CPU s |")
    print("|---|---|---|---|---|---|---|")
    effect: dict[str, Counter[str]] = defaultdict(Counter)
    real_removals: Counter[str] = Counter()
    current = docs
    for stage in stages:
        stats = StageStats(stage.name)
        chars = sum(len(d.text) for d in current)
        before = {d.id: d.text for d in current}
        start = time.process_time()
        kept = list(stage.process(current, stats))
        cpu = time.process_time() - start
        changed = sum(d.text != before[d.id] for d in kept)
        print(f"| {stage.name} | {len(current)} | {sum(stats.removed.values())} | {changed} | {cpu:.2f} | "
              f"{len(current) / cpu:,.0f} | {chars / cpu / 1e6:.2f} |")
        for removal in stats.removals:
            effect[noise_of[removal.id]][f"{stage.name}:removed"] += 1
            if noise_of[removal.id] == "real":
                real_removals[f"{stage.name}:{removal.reason}"] += 1
        for doc in kept:
            if doc.text != before[doc.id]:
                effect[noise_of[doc.id]][f"{stage.name}:changed"] += 1
        current = kept

    totals = Counter(noise_of.values())
    print("\n| noise | docs | what happened (share of that noise's docs) |\n|---|---|---|")
    for noise, total in sorted(totals.items(), key=lambda kv: -kv[1]):
        parts = ", ".join(f"{k} {n / total:.0%}" for k, n in effect[noise].most_common())
        print(f"| {noise} | {total} | {parts or 'untouched'} |")
    print(f"\nreal documents removed, by reason ({sum(real_removals.values())} of {totals['real']}): "
          + ", ".join(f"{k} {n}" for k, n in real_removals.most_common()))
    kept_chars = sum(len(d.text) for d in current)
    print(f"\nkept {len(current)} of {len(docs)} documents, {kept_chars / sum(map(len, original.values())):.1%} "
          f"of the characters")


if __name__ == "__main__":
    main()
