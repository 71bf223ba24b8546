"""The global steps split into units (issue 20): linecount per key bucket, LSH per (band, key
range), the union-find merge, finalize without text, and removing the work directory."""
from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from dataprep_corpus import config, edit, real_texts, write_jsonl

from dataprep import clean_work, runner
from dataprep.stages import minhash

REPO = Path(__file__).resolve().parents[1]
ONLY_LINES = {"quality": {"enabled": False}, "doc_score": {"enabled": False}, "safety": {"enabled": False}}
SPLIT = {"global_steps": {"linecount_buckets": 4, "lsh_parts": 3}}
CHROME = ["Subscribe to our newsletter for weekly updates and offers",
          "Copyright 2024 The Example Daily. All rights reserved.",
          "本站所有文章均为原创，转载请注明出处，谢谢合作支持"]


def outputs(out: Path) -> dict[str, bytes]:
    """Every final output file but the manifest (its settings hash names the split), by relative path."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] not in ("work", "manifest.json", "config.yaml", "plan.json")}


def counts(manifest: dict) -> dict:
    return {k: v for k, v in manifest.items() if k != "settings_hash"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Real paragraphs with site chrome repeated across documents, exact and edited copies; and its
    run with one bucket and one LSH range."""
    root = tmp_path_factory.mktemp("global")
    rng = random.Random(3)
    texts = real_texts("fortunes-zh/chinese", 18) + real_texts("fortunes/", 18)
    texts = [t + "\n" + CHROME[i % 3] if i % 2 else t for i, t in enumerate(texts)]
    texts += [texts[4], texts[11], edit(texts[20], rng, "insert"), edit(texts[7], rng, "reorder"), texts[4]]
    rng.shuffle(texts)
    path = write_jsonl(root / "in.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    cfg = config([path], root / "one", shard_size=6, **ONLY_LINES)
    return root, path, runner.run_all(cfg)


def run_split(path: Path, out: Path, ntasks: int = 3, **extra) -> dict:
    cfg = config([path], out, shard_size=6, **ONLY_LINES, **SPLIT, **extra)
    for step in runner.STEPS:
        for task in range(ntasks if step in runner.MAP_STEPS else 1):
            runner.run_step(cfg, step, task, ntasks if step in runner.MAP_STEPS else 1)
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_buckets_and_lsh_ranges_over_tasks_give_the_same_outputs(corpus, tmp_path):
    root, path, manifest = corpus
    stages = manifest["stages"]
    assert stages["lines"]["counters"]["lines.docs_changed"] >= 15          # the chrome lines went
    assert stages["exact_dedup"]["removed"] == {"exact_duplicate": 3}
    assert stages["minhash"]["removed"]["near_duplicate"] >= 2
    split = run_split(path, tmp_path / "split")
    assert counts(split) == counts(manifest)
    assert outputs(tmp_path / "split") == outputs(root / "one")
    assert near_ids(tmp_path / "split") == one_process_near_ids(tmp_path / "split")


def near_ids(out: Path) -> set[str]:
    return {r["id"] for r in map(json.loads, (out / "removed.jsonl").open(encoding="utf-8"))
            if r["reason"] == "near_duplicate"}


def one_process_near_ids(out: Path) -> set[str]:
    """Near duplicates as one process finds them: exact dedup over all hashes, then `lsh_clusters`
    over the survivors with signatures (the dedup reduce before issue 20)."""
    run = runner.Run(config(["unused"], out, **ONLY_LINES))
    dirs = [run.shard_dir("filter", s.index) for s in run.shards()]
    hashes = np.concatenate([np.load(d / "hashes.npy") for d in dirs])
    valid = np.concatenate([np.load(d / "valid.npy") for d in dirs])
    ids = [r for d in dirs for r in pq.read_table(d / "docs.parquet", columns=["id"]).column("id").to_pylist()]
    first = runner.exact_dedup.first_occurrences(hashes)
    alive = np.flatnonzero(valid & (first == np.arange(len(first))))
    store = minhash.SignatureStore([d / "sig.npy" for d in dirs])
    bands, rows = run.lsh_bands()
    roots = minhash.lsh_clusters(store, alive, run.cfg.minhash.threshold, bands, rows).roots()
    return {ids[i] for i in np.flatnonzero(roots != np.arange(len(roots)))}


def test_each_bucket_holds_only_its_keys_and_reads_only_its_row_group(corpus, tmp_path):
    root, path, _ = corpus
    run_split(path, tmp_path / "split", ntasks=2)
    work = tmp_path / "split" / "work"
    whole = set(pq.read_table(root / "one" / "work" / "linecount" / "bucket-00000" / "repeated.parquet")
                .column("key").to_pylist())
    parts = []
    for b in range(4):
        keys = pq.read_table(work / "linecount" / f"bucket-{b:05d}" / "repeated.parquet").column("key").to_pylist()
        assert all(runner.line_bucket(k, 4) == b for k in keys)
        parts += keys
    assert sorted(parts) == sorted(whole) and len(whole) >= 3
    counts_file = pq.ParquetFile(work / "read" / "shard-00000" / "linecounts.parquet")
    groups = [counts_file.read_row_group(i).column("bucket").unique().to_pylist()
              for i in range(counts_file.metadata.num_row_groups)]
    assert all(len(g) == 1 for g in groups) and len(groups) > 1
    assert len(list((work / "lsh").glob("unit-*/done.json"))) == 3 * runner.Run(
        config([path], tmp_path / "split", **SPLIT)).lsh_bands()[0]


def test_union_of_pair_arrays_equals_the_one_by_one_union():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 5000, 3000)
    b = np.where(rng.random(3000) < 0.5, a + 1, rng.integers(0, 5000, 3000)).clip(0, 4999)
    one = minhash.UnionFind(5000)
    for x, y in zip(a.tolist(), b.tolist()):
        one.union(x, y)
    vectorised = minhash.UnionFind(5000)
    vectorised.union_pairs(a, b)
    assert vectorised.roots().tolist() == one.roots().tolist()


def mapped_kb(path: Path) -> int:
    """Resident kB of this process's memory maps of `path` (/proc/self/smaps)."""
    total, mine = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):     # a mapping's header line
            mine = fields[-1] == str(path)
        elif mine and fields[0] == "Rss:":
            total += int(fields[1])
    return total


def test_signature_rows_are_read_without_faulting_in_the_mapped_table(tmp_path):
    """The merge reads the rows of every near copy: through the memory map, the pages it touched
    stayed in its RSS, which then grew with the whole signature table."""
    rng = np.random.default_rng(2)
    tables = [rng.integers(0, 2**32, size=(n, 128), dtype=np.uint32) for n in (3000, 1, 5000)]
    paths = [tmp_path / f"sig-{i}.npy" for i in range(len(tables))]
    for table, path in zip(tables, paths):
        np.save(path, table)
    whole = np.concatenate(tables)
    store = minhash.SignatureStore(paths)
    dense = np.r_[np.arange(0, len(whole), 3), 3000]                 # a third of the rows, in order
    sparse = rng.permutation(len(whole))[:40]                        # a few, unordered, repeated below
    for index in (dense, sparse, np.r_[sparse, sparse[:5]], np.zeros(0, np.int64)):
        assert np.array_equal(store.rows(index), whole[index])
        assert np.array_equal(store.rows(index, span=4096), whole[index])    # 8 rows per read
    assert all(mapped_kb(p.resolve()) == 0 for p in paths), [mapped_kb(p.resolve()) for p in paths]


def test_clusters_written_in_chunks_equal_the_whole(corpus):
    root, _, _ = corpus
    run = runner.Run(config(["unused"], root / "one", **ONLY_LINES))
    shards = run.shards()
    store = minhash.SignatureStore([run.shard_dir("filter", s.index) / "sig.npy" for s in shards])
    members, kept = runner._near_duplicates([run.unit_dir("lsh", u) / "pairs.npy" for u in run.units("lsh")],
                                            store.size)
    written = [json.loads(line) for line in (root / "one" / "clusters.jsonl").open(encoding="utf-8")]
    assert len(written) >= 2
    for chunk in (1, 2, 4096):
        assert list(runner._clusters(run, shards, store, members, kept, chunk)) == written


def test_finalize_reads_no_document_text(corpus, tmp_path):
    root, path, manifest = corpus
    out = tmp_path / "copy"
    shutil.copytree(root / "one", out)
    for name in ("manifest.json", "removed.jsonl", "quarantine.jsonl", "lengths.json"):
        (out / name).unlink()
    (out / "work" / "finalize" / "done.json").unlink()
    for docs in [*(out / "work").glob("*/shard-*/docs.parquet"), *(out / "clean").glob("*.parquet")]:
        docs.write_bytes(b"not parquet")      # finalize must not need them
    again = runner.run_all(config([path], out, shard_size=6, **ONLY_LINES))
    assert again == manifest
    assert (out / "lengths.json").read_bytes() == (root / "one" / "lengths.json").read_bytes()


def test_clean_work_verifies_then_removes_and_a_rerun_does_nothing(corpus, tmp_path):
    root, path, manifest = corpus
    out = tmp_path / "run"
    shutil.copytree(root / "one", out)
    removed = (out / "removed.jsonl").read_text(encoding="utf-8")
    (out / "removed.jsonl").write_text(removed.split("\n", 1)[1], encoding="utf-8")   # one record lost
    result = subprocess.run([sys.executable, "-m", "dataprep.cli", "clean-work", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "removed.jsonl has" in result.stderr and "Traceback" not in result.stderr
    assert (out / "work" / "read").is_dir() and not clean_work.is_cleaned(out)
    (out / "removed.jsonl").write_text(removed, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "dataprep.cli", "clean-work", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not (out / "work").exists() and clean_work.is_cleaned(out)
    assert runner.run_all(config([path], out, shard_size=6, **ONLY_LINES)) == manifest
    assert not (out / "work").exists()
    with pytest.raises(clean_work.CleanWorkError, match="manifest.json missing"):
        clean_work.clean_work(tmp_path)


def test_clean_work_switch_removes_work_at_the_end_of_finalize(corpus, tmp_path):
    root, path, manifest = corpus
    cfg = config([path], tmp_path / "auto", shard_size=6, **ONLY_LINES, global_steps={"clean_work": True})
    assert cfg.settings_hash() == config([path], root, shard_size=6, **ONLY_LINES).settings_hash()
    assert runner.run_all(cfg) == manifest
    assert not (tmp_path / "auto" / "work").exists()
    assert outputs(tmp_path / "auto") == {**outputs(root / "one"), clean_work.MARKER: (tmp_path / "auto" / clean_work.MARKER).read_bytes()}
