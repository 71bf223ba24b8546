"""Throughput of the dataprep runner's steps, and its MinHash dedup against datatrove's, same corpus.

1. Runner steps (all stages on): wall seconds with `--workers` processes, and docs/s and MB/s
   of the documents (UTF-8 text) entering each step.
2. Dedup side by side on the normalised documents (no filters, so both see the same text):
   ours = read + signatures + exact/near dedup + write; datatrove = its 4 MinHash stages
   (signatures, buckets, clusters, filter) with its Chinese setting (jieba words, 5-grams,
   14 buckets x 8 hashes). Timed as CPU seconds in one process (robust on a shared machine)
   and as wall seconds with 2 workers. Agreement: the removed-id sets of both.
3. `--copies K` replaces 2. with a larger corpus: K edited copies of every sample document
   (a Han character per 100 or an English word per 50 repeated or deleted, copy number
   appended), no filters: step times, peak memory of the driver, and the share of copies caught.

    python benchmarks/bench_dataprep.py [--inputs data/sample/raw] [--workers 2] [--work /tmp/bench_dataprep]
    python benchmarks/bench_dataprep.py --copies 15
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from common.config import from_dict
from dataprep import runner
from dataprep.config import DataConfig, MinHashConfig
from dataprep.stages.minhash import band_params
from dataprep.stages.normalize import detect_lang

NO_FILTERS = {"lines": {"enabled": False}, "quality": {"enabled": False}, "doc_score": {"enabled": False},
              "safety": {"enabled": False}}


def timed(fn, *args) -> tuple[float, float]:
    """(wall, CPU of this process) seconds of fn(*args)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def docs_and_mb(paths: list[Path]) -> tuple[int, float]:
    tables = [pq.read_table(p, columns=["text"]) for p in paths if p.exists()]
    docs = sum(t.num_rows for t in tables)
    mb = sum(len(s.encode("utf-8")) for t in tables for s in t.column("text").to_pylist()) / 1e6
    return docs, mb


def bench_steps(inputs: str, work: Path, workers: int) -> list[dict]:
    cfg = from_dict(DataConfig, {"inputs": [inputs], "output": str(work / "steps"), "num_workers": workers,
                                 "shard_size": 250})
    rows = []
    for step in runner.STEPS:
        run = runner.Run(cfg)
        if step in ("filter", "dedup"):
            entering = [run.shard_dir("read" if step == "filter" else "filter", s.index) / "docs.parquet"
                        for s in run.shards()]
        elif step in ("write", "finalize"):
            entering = [run.shard_dir("filter", s.index) / "docs.parquet" for s in run.shards()]
        else:
            entering = []
        wall, _ = timed(runner.run_step, cfg, step)
        if step == "read":
            entering = [run.shard_dir("read", s.index) / "docs.parquet" for s in run.shards()]
        docs, mb = docs_and_mb(entering)
        rows.append({"step": step, "wall_s": wall, "docs": docs, "mb": mb})
    return rows


def normalised_jsonl(steps_out: Path, dest: Path, parts: int = 2) -> Path:
    """The normalised documents (after the read step) as `parts` jsonl files, in document order."""
    records = [r for p in sorted((steps_out / "work" / "read").glob("shard-*/docs.parquet"))
               for r in pq.read_table(p, columns=["id", "text"]).to_pylist()]
    dest.mkdir(parents=True, exist_ok=True)
    size = (len(records) + parts - 1) // parts
    for i in range(parts):
        with open(dest / f"part-{i}.jsonl", "w", encoding="utf-8") as handle:
            for r in records[i * size:(i + 1) * size]:
                handle.write(json.dumps(r, ensure_ascii=False) + "\n")
    return dest


def ours(corpus: Path, out: Path, workers: int) -> set[str]:
    cfg = from_dict(DataConfig, {"inputs": [str(corpus)], "output": str(out), "num_workers": workers,
                                 "shard_size": 1000, **NO_FILTERS})
    runner.run_all(cfg)
    return {json.loads(line)["id"] for line in (out / "removed.jsonl").open(encoding="utf-8")}


def _patch_datatrove_xxhash() -> None:
    """datatrove 0.10.1 hands str to xxhash, which xxhash >= 4 refuses: encode first (same hash values)."""
    import xxhash
    from datatrove.utils.hashes import xxhash as dt_xxhash

    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(data.encode("utf-8") if isinstance(data, str) else data)


def datatrove_stage(pipeline: list, tasks: int, logs: Path, workers: int = 1, **kwargs) -> None:
    """One datatrove stage through its local executor, warnings only (forked workers keep the xxhash
    patch); `kwargs` go to the executor (local_tasks, local_rank_offset: run only some tasks)."""
    from datatrove.executor import LocalPipelineExecutor
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    LocalPipelineExecutor(pipeline, tasks=tasks, logging_dir=str(logs), workers=workers, skip_completed=False,
                          start_method="fork", **kwargs).run()


def datatrove_buckets(out: Path, cfg: Any, tasks: int, workers: int = 1, **kwargs) -> None:
    """datatrove's MinHash stage 2: duplicate pairs from the signatures in out/sigs, tasks / buckets
    hash ranges per bucket, into out/buckets."""
    from datatrove.pipeline.dedup import MinhashDedupBuckets

    step = MinhashDedupBuckets(input_folder=str(out / "sigs"), output_folder=str(out / "buckets"), config=cfg)
    datatrove_stage([step], tasks, out / "logs2", workers, **kwargs)


def datatrove_cluster(out: Path, cfg: Any) -> None:
    """datatrove's MinHash stage 3 (one task): union-find over out/buckets, out/remove/<file>.remove."""
    from datatrove.pipeline.dedup import MinhashDedupCluster

    datatrove_stage([MinhashDedupCluster(input_folder=str(out / "buckets"), output_folder=str(out / "remove"),
                                         config=cfg)], 1, out / "logs3")


def datatrove(corpus: Path, out: Path, workers: int, language: str = "cmn_Hani") -> set[str]:
    """Ids removed by datatrove's 4 MinHash stages, words from `language`'s tokenizer (spacy / jieba)."""
    from datatrove.pipeline.dedup import MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    _patch_datatrove_xxhash()
    cfg = MinhashConfig()                   # 5-grams, 14 buckets x 8 hashes, 64-bit xxhash
    files = len(list(corpus.glob("*.jsonl")))
    datatrove_stage([JsonlReader(str(corpus)), MinhashDedupSignature(output_folder=str(out / "sigs"), config=cfg,
                                                                     language=language)],
                    files, out / "logs1", workers)
    datatrove_buckets(out, cfg, cfg.num_buckets, workers)
    datatrove_cluster(out, cfg)
    datatrove_stage([JsonlReader(str(corpus)),
                     MinhashDedupFilter(input_folder=str(out / "remove"),
                                        exclusion_writer=JsonlWriter(str(out / "removed"))),
                     JsonlWriter(str(out / "kept"))],
                    files, out / "logs4", workers)
    return {json.loads(line)["id"] for p in sorted((out / "removed").glob("*.jsonl.gz"))
            for line in gzip.open(p, "rt", encoding="utf-8")}


def planted_pairs(inputs: Path) -> dict[str, tuple[str, str]]:
    """copy id -> (kind, original id) from the sample's `noise` tags ("exact_dup:<id>", "near_dup:<id>")."""
    pairs = {}
    for path in sorted(inputs.glob("*.jsonl.gz")):
        for raw in gzip.open(path, "rb"):
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            noise = str(record.get("noise")) if isinstance(record, dict) else ""
            if noise.startswith(("exact_dup:", "near_dup:")):
                kind, original = noise.split(":", 1)
                pairs[record["id"]] = (kind, original)
    return pairs


def recall_line(removed: set[str], pairs: dict[str, tuple[str, str]]) -> str:
    """Share of planted pairs with one side removed, per kind, and removals outside planted pairs."""
    parts = []
    for kind in ("exact_dup", "near_dup"):
        wanted = [(c, o) for c, (k, o) in pairs.items() if k == kind]
        found = sum(1 for c, o in wanted if c in removed or o in removed)
        parts.append(f"{kind} {found}/{len(wanted)}")
    involved = set(pairs) | {o for _, o in pairs.values()}
    return ", ".join(parts) + f", removed outside planted pairs {len(removed - involved)}"


def copies_corpus(steps_out: Path, dest: Path, copies: int, seed: int = 1) -> tuple[int, float]:
    """`copies` edited copies of every normalised sample document, shuffled; returns (docs, MB)."""
    rng = random.Random(seed)
    base = [r["text"] for p in sorted((steps_out / "work" / "read").glob("shard-*/docs.parquet"))
            for r in pq.read_table(p, columns=["text"]).to_pylist()]
    records = []
    for k in range(copies):
        for i, text in enumerate(base):
            chinese = detect_lang(text) == "zh"
            units = list(text) if chinese else text.split(" ")
            for _ in range(len(units) // (100 if chinese else 50) if k else 0):
                pos = rng.randrange(len(units))
                if rng.random() < 0.5:
                    units.insert(pos, units[pos])
                else:
                    del units[pos]
            edited = ("" if chinese else " ").join(units)
            records.append({"id": f"{k}-{i}", "text": edited + (f" {k}" if k else "")})
    rng.shuffle(records)
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / "copies.jsonl", "w", encoding="utf-8") as handle:
        for r in records:
            handle.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(records), sum(len(r["text"].encode("utf-8")) for r in records) / 1e6


def bench_copies(work: Path, copies: int, workers: int) -> None:
    docs, mb = copies_corpus(work / "steps", work / "copies", copies)
    cfg = from_dict(DataConfig, {"inputs": [str(work / "copies")], "output": str(work / "copies-out"),
                                 "num_workers": workers, "shard_size": 5000, **NO_FILTERS})
    print(f"\n## {copies} edited copies of each sample document: {docs} docs, {mb:.1f} MB, {workers} workers")
    print("| step | wall s | CPU s of this process (all of it with --workers 1) |\n|---|---|---|")
    for step in runner.STEPS:
        wall, cpu = timed(runner.run_step, cfg, step)
        print(f"| {step} | {wall:.2f} | {cpu:.2f} |")
    manifest = json.loads((work / "copies-out" / "manifest.json").read_text(encoding="utf-8"))
    originals = docs // copies
    print(f"kept {manifest['kept']} (originals {originals}); copies caught "
          f"{(docs - manifest['kept']) / (docs - originals):.3f}; driver peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", default="data/sample/raw")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", default="/tmp/bench_dataprep")
    parser.add_argument("--copies", type=int, default=0, help="run the scaled-up corpus instead of 2. (see 3. above)")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)

    print(f"## runner steps, all stages on, {args.workers} workers ({args.inputs})")
    print("| step | wall s | docs in | MB in | docs/s | MB/s |\n|---|---|---|---|---|---|")
    for r in bench_steps(args.inputs, work, args.workers):
        rate = (f"{r['docs'] / r['wall_s']:.0f} | {r['mb'] / r['wall_s']:.2f}" if r["docs"] else "- | -")
        print(f"| {r['step']} | {r['wall_s']:.2f} | {r['docs'] or '-'} | {r['mb']:.2f} | {rate} |")

    if args.copies:
        bench_copies(work, args.copies, args.workers)
        return
    corpus = normalised_jsonl(work / "steps", work / "normalised")
    docs = sum(1 for p in corpus.glob("*.jsonl") for _ in p.open(encoding="utf-8"))
    mb = sum(p.stat().st_size for p in corpus.glob("*.jsonl")) / 1e6
    print(f"\n## MinHash dedup side by side: {docs} normalised docs, {mb:.2f} MB jsonl")
    print("| system | CPU s (1 process) | wall s (2 workers) | docs/s (CPU) | removed |\n|---|---|---|---|---|")
    results = {}
    mh = MinHashConfig()
    bands, rows = band_params(mh.threshold, mh.num_perm, mh.false_positive_weight, mh.false_negative_weight)
    label = (f"ours (MinHash = datasketch's, Han char {mh.han_ngram}-grams / Latin char {mh.latin_char_ngram}-grams, "
             f"{bands}x{rows}, verified J >= {mh.threshold})")
    for name, fn in ((label, ours),
                     ("datatrove 0.10 (jieba words 5-grams, 14x8)", datatrove)):
        wall1, cpu1 = timed(lambda: results.__setitem__(name, fn(corpus, work / f"{fn.__name__}-1", 1)))
        wall2, _ = timed(fn, corpus, work / f"{fn.__name__}-2", args.workers)
        print(f"| {name} | {cpu1:.2f} | {wall2:.2f} | {docs / cpu1:.0f} | {len(results[name])} |")
    pairs = planted_pairs(Path(args.inputs))
    for name, removed in results.items():
        print(f"- {name}: planted pairs caught: {recall_line(removed, pairs)}")
    a, b = results.values()
    print(f"\nremoved by both {len(a & b)}, only ours {len(a - b)}, only datatrove {len(b - a)}, "
          f"Jaccard of removed sets {len(a & b) / max(1, len(a | b)):.3f}")
    print(json.dumps({"only_ours": sorted(a - b)[:20], "only_datatrove": sorted(b - a)[:20]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
