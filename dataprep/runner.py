"""The data-preparation run: steps over shards, each resumable, runnable locally or as Slurm tasks.

Steps, in order ("map" steps work unit by unit and take `--task I --ntasks N`: task I does
the units whose index % N == I, a unit being an input shard, a line-key bucket or an LSH
(band, key range); "reduce" steps are global and run once):

  plan       reduce  <out>/plan.json: the input shards (records [start, start+count) of a file)
                     and the settings hash (a rerun with other settings is refused), and
                     <out>/config.yaml: every setting that shapes the outputs, defaults included.
  read       map     work/read/shard-K/: read + quarantine + size checks + normalise + domain tag ->
                     docs.parquet, linecounts.parquet (normalised-line key -> #docs, for the
                     line cleaner), removed.jsonl, quarantine.jsonl, stats.json.
                     linecounts.parquet holds one row group per key bucket (hash of the key
                     % global_steps.linecount_buckets), so a bucket is read alone.
  linecount  map     per bucket, work/linecount/bucket-B/repeated.parquet: that bucket's line
                     keys seen in >= lines.min_docs docs (memory ~ the bucket's distinct keys).
  filter     map     work/filter/shard-K/: language tag, then the document steps listed before
                     the dedup steps (by default line cleaning, quality, safety), exact hashes
                     (hashes.npy), MinHash signatures (sig.npy, valid.npy) and their LSH band
                     keys grouped by key range (lsh_keys.npy, lsh_docs.npy, lsh_offsets.npy).
  lsh        map     per unit (LSH band, hash range of its keys; global_steps.lsh_parts ranges
                     per band), work/lsh/unit-U/pairs.npy: the verified candidate pairs
                     (global document indices) of that band's keys in that range.
  dedup      reduce  exact dedup in lsh_parts hash-range passes, union-find over the lsh pairs,
                     then work/dedup/decision-K.npy (0 keep, 1 exact dup, 2 near dup),
                     stats.json and <out>/clusters.jsonl (see `step_dedup` for its memory).
  write      map     the document steps listed after the dedup steps, on the documents dedup
                     kept, then <out>/clean/part-K.parquet (id, text, source, lang, domain, and the
                     columns stages declare, e.g. quality_score) and work/write/shard-K/
                     removed.jsonl + stats.json.

Which stages run and in which order is the config's `steps` list (dataprep/steps.py); the
passes above are fixed, so the local and Slurm-array executors run any list the same way.
  finalize   reduce  <out>/removed.jsonl, <out>/quarantine.jsonl, <out>/manifest.json and
                     <out>/lengths.json (histograms of chars per doc after normalising / after
                     cleaning: fixed bins, so its size does not grow with the corpus) from the
                     per-shard stats.json files, reading no text (the stages' metric
                     histograms, dataprep/histograms.py, summed); checks docs_in == kept +
                     removed + quarantined and raises if not; sends the counts to W&B when
                     wandb.enabled (dataprep/tracking.py). With global_steps.clean_work the
                     work directory is then removed (`dataprep.clean_work`).

`dataprep run --config C` runs all steps locally, per-shard steps over `num_workers`
processes. Every step's outputs are written atomically and followed by a `done.json`
marker; a rerun skips what has a marker, so a killed run resumes where it stopped. Output
shards match input shards one to one, so outputs are the same whatever N or num_workers.
"""
from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import signal
from collections import Counter
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from common.atomic import atomic_write, clean_stale_tmp, write_json, write_text
from common.config import ConfigError, to_dict
from common.progress import progress
from dataprep import histograms
from dataprep import steps as data_steps
from dataprep import thresholds, tracking
from dataprep.config import DataConfig
from dataprep.core import Document, Quarantine, Stage, StageStats
from dataprep import clean_work
from dataprep.stages import exact_dedup, lines, minhash
from dataprep.stages.normalize import detect_lang
from dataprep.reader import InputShard, ShardReader, plan_shards
from dataprep.stages.read import ReadChecks
from dataprep.writer import CLEAN_SCHEMA, read_jsonl, read_parquet, write_jsonl, write_npy, write_parquet

MAP_STEPS = ("read", "linecount", "filter", "lsh", "write")
REDUCE_STEPS = ("plan", "dedup", "finalize")
STEPS = ("plan", "read", "linecount", "filter", "lsh", "dedup", "write", "finalize")
SHARD_STEPS = ("read", "filter", "write")      # map steps whose units are the input shards
KILL_ENV = "DATAPREP_KILL_AT"      # test hook: "<step>:<shard>" SIGKILLs the run before that marker

DOCS_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()),
                         ("line", pa.int64()), ("domain", pa.string())])
FILTERED_SCHEMA = pa.schema([*DOCS_SCHEMA, pa.field("lang", pa.string())])
LINECOUNT_SCHEMA = pa.schema([("key", pa.string()), ("docs", pa.int64())])
BUCKETED_SCHEMA = pa.schema([("bucket", pa.int32()), *LINECOUNT_SCHEMA])
KEEP, EXACT, NEAR = 0, 1, 2
# document-length histogram bins (characters): 0, then 4 per octave from 1 to 2^25 (> max_doc_chars)
LENGTH_EDGES = np.concatenate([[0.0], 2.0 ** np.arange(0, 25.01, 0.25)])
EXAMPLES_PER_KEY = 5               # examples per counter key kept in the manifest (removed lines, PII)


class RunError(RuntimeError):
    """A run cannot go on (a step's inputs missing, the accounting invariant broken)."""


@dataclasses.dataclass
class Run:
    cfg: DataConfig

    @property
    def out(self) -> Path:
        return Path(self.cfg.output)

    def shard_dir(self, step: str, index: int) -> Path:
        return self.out / "work" / step / f"shard-{index:05d}"

    def unit_dir(self, step: str, index: int) -> Path:
        """A map step's unit: an input shard, a linecount bucket or an lsh (band, key range)."""
        if step in SHARD_STEPS:
            return self.shard_dir(step, index)
        return self.out / "work" / step / f"{'bucket' if step == 'linecount' else 'unit'}-{index:05d}"

    def step_dir(self, step: str) -> Path:
        return self.out / "work" / step

    def marker(self, step: str, index: int | None = None) -> Path:
        base = self.step_dir(step) if index is None else self.unit_dir(step, index)
        return base / "done.json"

    def clean_path(self, index: int) -> Path:
        return self.out / "clean" / f"part-{index:05d}.parquet"

    def shards(self) -> list[InputShard]:
        plan = json.loads((self.out / "plan.json").read_text(encoding="utf-8"))
        return [InputShard(**s) for s in plan["shards"]]

    def lsh_bands(self) -> tuple[int, int]:
        """(bands, rows) of the LSH; (0, 0) when near dedup is off."""
        mh = self.cfg.minhash
        if "minhash" not in data_steps.plan(self.cfg).dedup:
            return 0, 0
        return minhash.band_params(mh.threshold, mh.num_perm, mh.false_positive_weight, mh.false_negative_weight)

    def units(self, step: str) -> list[int]:
        """The unit indices of a map step."""
        if step in SHARD_STEPS:
            return [s.index for s in self.shards()]
        if step == "linecount":
            return list(range(self.cfg.global_steps.linecount_buckets))
        return list(range(self.lsh_bands()[0] * self.cfg.global_steps.lsh_parts))


# ---- stages of the config's step list ----------------------------------------------------

def _stages(run: Run, entries: list) -> list[Stage]:
    return data_steps.build(entries, run.cfg, data_steps.Context(lambda: _repeated(run)))


def _columns(stages: list[Stage], carried: Iterable[pa.Field] = ()) -> list[pa.Field]:
    """Output columns: those carried from an earlier pass, then those the stages declare (Stage.columns)."""
    fields = {f.name: f for f in carried}
    for stage in stages:
        for key, arrow_type in stage.columns.items():
            fields.setdefault(key, pa.field(key, pa.type_for_alias(arrow_type)))
    return list(fields.values())


# ---- helpers ----------------------------------------------------------------------------

def _kill_hook(point: str) -> None:
    """SIGKILL this run's process group at a named point (crash tests set DATAPREP_KILL_AT)."""
    if os.environ.get(KILL_ENV) == point:
        os.killpg(os.getpgrp(), signal.SIGKILL)


def _finish(run: Run, step: str, index: int | None = None) -> None:
    point = step if index is None else f"{step}:{index}"
    _kill_hook(point)
    write_json(run.marker(step, index), {"step": step, "shard": index})


def _stats_json(stats: Iterable[StageStats]) -> dict[str, Any]:
    return {s.stage: s.to_json() for s in stats}


def _removals(stats: Iterable[StageStats]) -> list[dict[str, Any]]:
    return [r.to_json() for s in stats for r in s.removals]


def _stats_for(stages: list[Stage]) -> list[StageStats]:
    return [StageStats(stage.name) for stage in stages]


def _pipe(docs: Iterable[Document], stages: list[Stage], stats: list[StageStats]) -> Iterable[Document]:
    for stage, st in zip(stages, stats):
        docs = stage.process(docs, st)
    return docs


def _doc_row(doc: Document) -> dict[str, Any]:
    return {"id": doc.id, "text": doc.text, "source": doc.source, "line": doc.meta.get("line", 0),
            "domain": doc.meta["domain"]}


# ---- steps ------------------------------------------------------------------------------

def step_plan(run: Run) -> None:
    path = run.out / "plan.json"
    settings = run.cfg.settings_hash()
    if path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))["settings_hash"]
        if previous != settings:
            raise ConfigError(f"{run.out} holds a run made with other settings (hash {previous}, now "
                              f"{settings}): choose another output directory or delete that one")
        return
    shards = plan_shards(run.cfg.inputs, run.cfg.shard_size)
    write_text(run.out / "config.yaml", run.cfg.settings_yaml())
    write_json(path, {"settings_hash": settings, "inputs": run.cfg.inputs,
                      "shards": [s.to_json() for s in shards]})


def step_read(run: Run, shard: InputShard) -> None:
    cfg = run.cfg
    reader = ShardReader(shard, cfg.text_field, cfg.id_field)
    stages: list[Stage] = [ReadChecks(cfg.read.max_doc_chars), *_stages(run, data_steps.plan(cfg).read)]
    stats = _stats_for(stages)
    docs = list(_pipe(reader, stages, stats))
    for doc, domain in zip(docs, cfg.domain.tag([d.text for d in docs], [d.source for d in docs])):
        doc.meta["domain"] = domain          # by the source's rule, or by the classifier (dataprep/domains.py)
    counts: Counter[str] = Counter()
    if data_steps.uses_line_counts(cfg):
        for doc in docs:
            counts.update(set(lines.line_keys(doc, cfg.lines)))
    out = run.shard_dir("read", shard.index)
    write_parquet(out / "docs.parquet", [_doc_row(doc) for doc in docs], DOCS_SCHEMA)
    _write_bucketed(out / "linecounts.parquet", counts, cfg.global_steps.linecount_buckets)
    write_jsonl(out / "removed.jsonl", _removals(stats))
    write_jsonl(out / "quarantine.jsonl", [q.to_json() for q in reader.quarantined])
    write_json(out / "stats.json", {"records": reader.records, "blank_lines": reader.blank_lines,
                                    "fields_seen": dict(reader.fields_seen),
                                    "lengths": _length_histogram([len(doc.text) for doc in docs]).tolist(),
                                    "groups": {"source": _groups([(d.source, len(d.text)) for d in docs], "read"),
                                               "domain": _groups([(d.meta["domain"], len(d.text)) for d in docs], "read")},
                                    "stages": _stats_json(stats)})


def line_bucket(key: str, buckets: int) -> int:
    """The linecount bucket of a line key (stable across runs and machines: xxh3 of its UTF-8)."""
    return xxhash.xxh3_64_intdigest(key.encode("utf-8")) % buckets if buckets > 1 else 0


def _write_bucketed(path: Path, counts: Counter[str], buckets: int) -> None:
    """A shard's line counts, sorted by (bucket, key), one parquet row group per bucket, so the
    linecount task of a bucket reads only that group (row-group statistics on `bucket`)."""
    rows = sorted((line_bucket(k, buckets), k, n) for k, n in counts.items())
    table = pa.Table.from_pylist([{"bucket": b, "key": k, "docs": n} for b, k, n in rows], schema=BUCKETED_SCHEMA)
    bucket = table.column("bucket").to_numpy()
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]]) if len(bucket) else np.zeros(0, np.int64)
    with atomic_write(path) as handle, pq.ParquetWriter(handle, BUCKETED_SCHEMA, compression="zstd") as writer:
        for lo, hi in zip(starts.tolist(), [*starts[1:].tolist(), len(bucket)]):
            writer.write_table(table.slice(lo, hi - lo), row_group_size=hi - lo)
        if not len(bucket):
            writer.write_table(table)


def _sum_counts(tables: list[pa.Table]) -> pa.Table:
    merged = pa.concat_tables(tables, promote_options="none") if tables else LINECOUNT_SCHEMA.empty_table()
    return merged.group_by("key").aggregate([("docs", "sum")]).rename_columns(["key", "docs"])


def step_linecount(run: Run, bucket: int) -> None:
    """Repeated keys of one bucket. Shards' rows are summed whenever the pending ones outgrow the
    running sum, so memory stays ~3x the bucket's distinct keys whatever the number of shards."""
    total, pending, pending_rows = LINECOUNT_SCHEMA.empty_table(), [], 0
    for s in run.shards():
        table = pq.read_table(run.shard_dir("read", s.index) / "linecounts.parquet", columns=["key", "docs"],
                              filters=[("bucket", "=", bucket)])
        pending.append(table)
        pending_rows += table.num_rows
        if pending_rows > max(total.num_rows, 1 << 16):
            total, pending, pending_rows = _sum_counts([total, *pending]), [], 0
    total = _sum_counts([total, *pending])
    repeated = total.filter(pc.greater_equal(total["docs"], run.cfg.lines.min_docs)).sort_by("key")
    with atomic_write(run.unit_dir("linecount", bucket) / "repeated.parquet") as handle:
        pq.write_table(repeated.cast(LINECOUNT_SCHEMA), handle, compression="zstd")


_REPEATED_CACHE: dict[str, set[str]] = {}


def _repeated(run: Run) -> set[str]:
    """The repeated-line keys of every bucket, loaded once per worker process. Only keys in >=
    lines.min_docs documents are held (<= the (key, doc) pairs / min_docs, ~100 B each): most
    lines are unique, so this is a small share of what linecount's buckets counted."""
    path = str(run.step_dir("linecount"))
    if path not in _REPEATED_CACHE:
        _REPEATED_CACHE.clear()
        _REPEATED_CACHE[path] = {key for b in run.units("linecount") for key in pq.read_table(
            run.unit_dir("linecount", b) / "repeated.parquet", columns=["key"]).column("key").to_pylist()}
    return _REPEATED_CACHE[path]


def _filtered_row(doc: Document, columns: list[pa.Field]) -> dict[str, Any]:
    return {**_doc_row(doc), "lang": doc.meta["lang"], **{f.name: doc.meta.get(f.name) for f in columns}}


def step_filter(run: Run, shard: InputShard) -> None:
    cfg = run.cfg
    plan = data_steps.plan(cfg)
    rows = read_parquet(run.shard_dir("read", shard.index) / "docs.parquet")
    docs = (Document(r["id"], r["text"], r["source"], {"line": r["line"], "domain": r["domain"]}) for r in rows)
    stages = _stages(run, plan.filter)
    stats = _stats_for(stages)
    columns = _columns(stages)
    kept = [_filtered_row(doc, columns) for doc in _pipe(_tag_lang(docs, cfg), stages, stats)]
    texts = [row["text"] for row in kept]
    mh = cfg.minhash
    if "minhash" in plan.dedup:
        sig, valid = minhash.signatures(texts, mh.num_perm, mh.seed, mh.han_ngram, mh.word_ngram, mh.batch_size,
                                        mh.latin_char_ngram)
    else:
        sig, valid = np.zeros((len(texts), 0), np.uint32), np.zeros(len(texts), bool)
    out = run.shard_dir("filter", shard.index)
    write_parquet(out / "docs.parquet", kept, pa.schema([*FILTERED_SCHEMA, *columns]))
    write_npy(out / "hashes.npy", exact_dedup.text_hashes(texts))
    write_npy(out / "sig.npy", sig)
    write_npy(out / "valid.npy", valid)
    write_lsh_keys(run, out, sig, valid)
    write_jsonl(out / "removed.jsonl", _removals(stats))
    write_json(out / "stats.json", {"stages": _stats_json(stats)})


def write_lsh_keys(run: Run, out: Path, sig: np.ndarray, valid: np.ndarray) -> None:
    """A shard's LSH band keys grouped by key range, so an `lsh` unit reads only its slice:
    lsh_keys.npy (bands, valid docs) uint64 and lsh_docs.npy the same shape's shard-local document
    indices (ascending within a range), lsh_offsets.npy (bands, lsh_parts + 1) each range's start.
    12 B per valid document and band."""
    bands, rows = run.lsh_bands()
    parts = run.cfg.global_steps.lsh_parts
    local = np.flatnonzero(valid).astype(np.int32)
    keys = np.zeros((bands, len(local)), np.uint64)
    docs = np.zeros((bands, len(local)), np.int32)
    offsets = np.zeros((bands, parts + 1), np.int64)
    for band in range(bands):
        k = minhash.band_keys(sig[local, band * rows:(band + 1) * rows])
        part = minhash.key_part(k, parts)
        order = np.argsort(part, kind="stable")
        keys[band], docs[band] = k[order], local[order]
        offsets[band, 1:] = np.cumsum(np.bincount(part, minlength=parts))
    write_npy(out / "lsh_keys.npy", keys)
    write_npy(out / "lsh_docs.npy", docs)
    write_npy(out / "lsh_offsets.npy", offsets)


def _tag_lang(docs: Iterable[Document], cfg: DataConfig) -> Iterable[Document]:
    """Set doc.meta["lang"] once, before the stages that choose rules by language."""
    for doc in docs:
        doc.meta["lang"] = detect_lang(doc.text, cfg.lang_zh_min_han)
        yield doc


def step_lsh(run: Run, unit: int) -> None:
    """Verified candidate pairs of one LSH band's keys in one hash range (a unit of `lsh`).

    Shard by shard, the slice of this band's keys in this range (written by the filter step) is
    read: memory and I/O ~ documents / lsh_parts x (8 key + 8 index + sort), so the units of a
    band together read its keys once. Exact
    copies are left out as in one-process dedup without knowing the global exact-dedup result:
    copies have equal signatures, so all of them share every bucket, and within a bucket a member
    whose text hash an earlier member has is a later copy (hashes read for bucketed docs only).
    """
    cfg, shards = run.cfg, run.shards()
    parts = cfg.global_steps.lsh_parts
    band, part = divmod(unit, parts)
    dirs = [run.shard_dir("filter", s.index) for s in shards]
    store = minhash.SignatureStore([d / "sig.npy" for d in dirs])
    keys, docs = [np.zeros(0, np.uint64)], [np.zeros(0, np.int64)]
    for d, offset in zip(dirs, store.offsets[:-1].tolist()):
        lo, hi = np.load(d / "lsh_offsets.npy")[band, part:part + 2].tolist()
        keys.append(np.array(np.load(d / "lsh_keys.npy", mmap_mode="r")[band, lo:hi]))
        docs.append(np.load(d / "lsh_docs.npy", mmap_mode="r")[band, lo:hi].astype(np.int64) + offset)
    key, doc = np.concatenate(keys), np.concatenate(docs)
    del keys, docs
    order = np.lexsort((doc, key))
    key, doc = key[order], doc[order]
    shared = np.zeros(len(key), dtype=bool)                  # members of buckets of two or more
    shared[1:] |= key[1:] == key[:-1]
    shared[:-1] |= key[1:] == key[:-1]
    key, doc = key[shared], doc[shared]
    if "exact_dedup" in data_steps.plan(cfg).dedup and len(doc):
        hashes = minhash.SignatureStore([d / "hashes.npy" for d in dirs]).rows(doc)
        order = np.lexsort((doc, hashes[:, 1], hashes[:, 0], key))
        same = (key[order][1:] == key[order][:-1]) & (hashes[order][1:] == hashes[order][:-1]).all(axis=1)
        copy = np.zeros(len(doc), dtype=bool)
        copy[order[1:][same]] = True
        key, doc = key[~copy], doc[~copy]
    a, b = minhash.bucket_pairs(key, doc)
    keep = minhash.verified(store, a, b, cfg.minhash.threshold)
    out = run.unit_dir("lsh", unit)
    write_npy(out / "pairs.npy", np.stack([a[keep], b[keep]], axis=1))
    write_json(out / "stats.json", {"band": band, "part": part, "documents": store.size, "bucketed": int(len(doc)),
                                    "candidates": int(len(a)), "verified": int(keep.sum())})


def _exact_copies(run: Run, dirs: list[Path], offsets: np.ndarray) -> np.ndarray:
    """Global indices of later exact copies, ascending: lsh_parts passes, each over the documents
    whose hash falls in one range, so memory ~ documents / lsh_parts x ~40 B plus the copies."""
    parts = run.cfg.global_steps.lsh_parts
    copies = [np.zeros(0, np.int64)]
    for part in range(parts):
        hashes, index = [], []
        for d, offset in zip(dirs, offsets[:-1].tolist()):
            h = np.load(d / "hashes.npy", mmap_mode="r")
            mine = np.flatnonzero(minhash.key_part(np.asarray(h[:, 0]), parts) == part) if parts > 1 \
                else np.arange(len(h))
            hashes.append(np.asarray(h[mine]))
            index.append(mine + offset)
        if not hashes:
            break
        hashes_all, index_all = np.concatenate(hashes), np.concatenate(index)
        first = exact_dedup.first_occurrences(hashes_all)
        copies.append(index_all[first != np.arange(len(first))])
    return np.sort(np.concatenate(copies))


def step_dedup(run: Run) -> None:
    """Exact dedup, then clusters from the lsh pairs, decisions per shard, clusters.jsonl.

    What grows with the corpus: a 1 B per document mask of the paired documents (while the nodes
    are gathered), the union-find over the documents in any verified pair (global index + parent,
    16 B each, plus the roots while compressing; pair files are read in batches about that size),
    the near/exact copy index lists (8 B per removed document) and the ids of clustered documents
    (an Arrow string array). Nothing else is held per document: signature rows and ids are read
    shard by shard, never through a memory map, and clusters.jsonl is streamed. Measured: ~100 B per
    document in a pair at the peak, ~300 GB at 3B documents with every one paired
    (docs/ARCHITECTURE.md, "Data preparation at scale").
    """
    cfg, shards = run.cfg, run.shards()
    plan = data_steps.plan(cfg)
    dirs = [run.shard_dir("filter", s.index) for s in shards]
    sizes = [len(np.load(d / "valid.npy", mmap_mode="r")) for d in dirs]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(offsets[-1])
    copies = _exact_copies(run, dirs, offsets) if "exact_dedup" in plan.dedup else np.zeros(0, np.int64)
    exact = StageStats("exact_dedup")
    exact.seen, exact.kept = n, n - len(copies)
    exact.removed["exact_duplicate"] = len(copies)
    near = StageStats("minhash")
    near.seen = exact.kept
    members = kept = np.zeros(0, np.int64)
    clusters: Iterable[dict[str, Any]] = ()
    bands, rows = run.lsh_bands()
    if bands and n:
        members, kept = _near_duplicates([run.unit_dir("lsh", u) / "pairs.npy" for u in run.units("lsh")], n)
        store = minhash.SignatureStore([d / "sig.npy" for d in dirs])
        clusters = _clusters(run, shards, store, members, kept)     # a generator: written below
        no_shingles = sum(int((~np.load(d / "valid.npy")).sum()) for d in dirs) - _invalid_copies(dirs, offsets, copies)
        near.count("bands", bands)
        near.count("rows_per_band", rows)
        near.count("clusters", len(np.unique(kept)))
        near.count("no_shingles", no_shingles)
    near.removed["near_duplicate"] = len(members)
    near.kept = near.seen - near.removed["near_duplicate"]
    for s, size, exact_here, near_here in zip(shards, sizes, _by_shard(copies, offsets), _by_shard(members, offsets)):
        decision = np.zeros(size, np.int8)
        decision[exact_here] = EXACT
        decision[near_here] = NEAR
        write_npy(run.step_dir("dedup") / f"decision-{s.index:05d}.npy", decision)
    write_jsonl(run.out / "clusters.jsonl", clusters)
    ran = [st for st in (exact, near) if st.stage in plan.dedup]
    write_json(run.step_dir("dedup") / "stats.json", {"stages": _stats_json(ran)})


def _near_duplicates(files: list[Path], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(members, kept): each document of a verified pair that is not the smallest of its cluster, and
    that smallest (global indices), by union-find over the documents in any pair (found with a 1 B per
    document mask: merging sorted node lists file by file held several copies of them). A function,
    so that its node table, pair batches and roots are freed before the clusters are written."""
    paired = np.zeros(n, dtype=bool)
    for f in files:
        paired[np.load(f).ravel()] = True
    nodes = np.flatnonzero(paired)
    del paired
    uf = minhash.UnionFind(len(nodes))
    for batch in _batches((np.load(f) for f in files), len(nodes)):
        pairs = np.concatenate(batch)
        uf.union_pairs(np.searchsorted(nodes, pairs[:, 0]), np.searchsorted(nodes, pairs[:, 1]))
    roots = nodes[uf.roots()]
    moved = roots != nodes
    return nodes[moved], roots[moved]


def _batches(arrays: Iterable[np.ndarray], limit: int) -> Iterator[list[np.ndarray]]:
    """Arrays grouped until a group's rows pass max(limit, 65536): the merge holds pairs of about the
    size of the node set at a time, and rounds over all nodes stay few."""
    batch: list[np.ndarray] = []
    rows = 0
    for array in arrays:
        batch.append(array)
        rows += len(array)
        if rows > max(limit, 1 << 16):
            yield batch
            batch, rows = [], 0
    if batch:
        yield batch


def _invalid_copies(dirs: list[Path], offsets: np.ndarray, copies: np.ndarray) -> int:
    """How many exact copies have no shingles (counted under exact dedup, not as no_shingles)."""
    return sum(int((~np.load(d / "valid.npy")[here]).sum()) for d, here in zip(dirs, _by_shard(copies, offsets)))


def _by_shard(index: np.ndarray, offsets: np.ndarray) -> Iterator[np.ndarray]:
    """Shard by shard, the shard-local positions of ascending global indices (each shard's slice by
    binary search: a mask per shard would cost indices x shards, quadratic in the corpus)."""
    cuts = np.searchsorted(index, offsets).tolist()
    for a, b, lo in zip(cuts[:-1], cuts[1:], offsets[:-1].tolist()):
        yield index[a:b] - lo


def _clusters(run: Run, shards: list[InputShard], store: minhash.SignatureStore,
              members: np.ndarray, kept: np.ndarray, chunk: int = 4096) -> Iterator[dict[str, Any]]:
    """One record per near-duplicate cluster, in kept-document order: kept id, member ids and
    similarity to the kept doc. Streamed: the ids of the documents involved are held as one Arrow
    string array (a few bytes each), and Python objects exist only for `chunk` clusters at a time."""
    if len(members) == 0:
        return
    sims = minhash.similarity(store, kept, members)
    needed = np.union1d(members, kept)
    ids = _ids_at(run, shards, store.offsets, needed)
    order = np.argsort(kept, kind="stable")              # clusters by kept index, members in index order
    members, kept, sims = members[order], kept[order], sims[order]
    del order
    starts = np.flatnonzero(np.r_[True, kept[1:] != kept[:-1]])
    for first in range(0, len(starts), chunk):
        lo = int(starts[first])
        hi = int(starts[first + chunk]) if first + chunk < len(starts) else len(kept)
        bounds = (starts[first:first + chunk] - lo).tolist() + [hi - lo]
        kept_ids = ids.take(_arrow_index(np.searchsorted(needed, kept[starts[first:first + chunk]]))).to_pylist()
        member_ids = ids.take(_arrow_index(np.searchsorted(needed, members[lo:hi]))).to_pylist()
        rounded = [round(sim, 4) for sim in sims[lo:hi].tolist()]
        for c, kept_id in enumerate(kept_ids):
            a, b = bounds[c], bounds[c + 1]
            yield {"kept": kept_id, "size": b - a + 1,
                   "duplicates": [{"id": m, "similarity": sim} for m, sim in zip(member_ids[a:b], rounded[a:b])]}


def _ids_at(run: Run, shards: list[InputShard], offsets: np.ndarray, needed: np.ndarray) -> pa.Array:
    """The ids of the documents at global indices `needed` (sorted), in that order, one shard read at
    a time (ParquetFile.read, one thread: pq.read_table imports pyarrow.dataset and pandas, ~50 MB)."""
    parts = []
    for shard, local in zip(shards, _by_shard(needed, offsets)):
        if len(local):
            path = run.shard_dir("filter", shard.index) / "docs.parquet"
            column = pq.ParquetFile(path).read(columns=["id"], use_threads=False)["id"]
            parts.append(column.take(_arrow_index(local)).combine_chunks())
    return pa.concat_arrays(parts)


def _arrow_index(index: np.ndarray) -> pa.Array:
    """Indices as an Arrow int64 array, sharing the numpy buffer: pa.array() imports pandas to check
    its argument's type, ~50 MB of a merge process's RSS for nothing."""
    index = np.ascontiguousarray(index, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(index), [None, pa.py_buffer(index)])


def step_write(run: Run, shard: InputShard) -> None:
    path = run.shard_dir("filter", shard.index) / "docs.parquet"
    rows = read_parquet(path)
    carried = [f for f in pq.read_schema(path) if f.name not in FILTERED_SCHEMA.names]
    decision = np.load(run.step_dir("dedup") / f"decision-{shard.index:05d}.npy")
    dedup_stats = {EXACT: StageStats("exact_dedup"), NEAR: StageStats("minhash")}
    survivors = []
    for row, code in zip(rows, decision.tolist()):
        doc = Document(row["id"], row["text"], row["source"], {k: row[k] for k in row if k not in ("id", "text", "source")})
        if code == KEEP:
            survivors.append(doc)
        else:
            dedup_stats[code].remove(doc, "exact_duplicate" if code == EXACT else "near_duplicate")
    stages = _stages(run, data_steps.plan(run.cfg).write)
    stats = _stats_for(stages)
    columns = _columns(stages, carried)
    names = [*CLEAN_SCHEMA.names, *(f.name for f in columns)]
    kept = [{k: row[k] for k in names}
            for row in (_filtered_row(doc, columns) for doc in _pipe(survivors, stages, stats))]
    out = run.shard_dir("write", shard.index)
    lengths = [len(row["text"]) for row in kept]
    write_jsonl(out / "removed.jsonl", _removals([*dedup_stats.values(), *stats]))
    write_json(out / "stats.json", {"kept": len(kept), "chars_kept": sum(lengths),
                                    "kept_by_lang": dict(Counter(row["lang"] for row in kept)),
                                    "lengths": _length_histogram(lengths).tolist(),
                                    "groups": {key: _groups([(row[key], len(row["text"])) for row in kept], "kept")
                                               for key in ("source", "lang", "domain")},
                                    "stages": _stats_json(stats)})
    if kept:    # no empty shards: `datasets` cannot read a parquet file without rows
        write_parquet(run.clean_path(shard.index), kept, pa.schema([*CLEAN_SCHEMA, *columns]))


def step_finalize(run: Run) -> dict[str, Any]:
    """Merge per-shard records, write the manifest, and check that every input doc is accounted for.

    Reads no document text: counts and length histograms come from the read and write steps'
    stats.json; removed.jsonl and quarantine.jsonl are streamed shard by shard, so memory does not
    grow with the number of removed documents.
    """
    shards = run.shards()
    docs_in = kept = 0
    by_reason: Counter[str] = Counter()
    by_lang: Counter[str] = Counter()
    quarantined: Counter[str] = Counter()
    fields_seen: Counter[str] = Counter()
    groups: dict[str, dict[str, dict[str, int]]] = {"source": {}, "lang": {}, "domain": {}}
    hist = {side: np.zeros(len(LENGTH_EDGES) - 1, np.int64) for side in ("before", "after")}
    chars_kept = 0
    stat_files = [run.step_dir("dedup") / "stats.json"]
    with atomic_write(run.out / "removed.jsonl", "w", encoding="utf-8") as removed_out, \
            atomic_write(run.out / "quarantine.jsonl", "w", encoding="utf-8") as quarantine_out:
        for s in shards:
            read_dir = run.shard_dir("read", s.index)
            read_stats = json.loads((read_dir / "stats.json").read_text(encoding="utf-8"))
            docs_in += read_stats["records"]
            fields_seen.update(read_stats.get("fields_seen", {}))
            for record in _copy_jsonl(read_dir / "quarantine.jsonl", quarantine_out):
                quarantined[record["file"]] += 1
            for step in ("read", "filter", "write"):
                for record in _copy_jsonl(run.shard_dir(step, s.index) / "removed.jsonl", removed_out):
                    by_reason[f"{record['stage']}/{record['reason']}"] += 1
            stat_files += [read_dir / "stats.json", *(run.shard_dir(step, s.index) / "stats.json"
                                                      for step in ("filter", "write"))]
            hist["before"] += read_stats["lengths"]
            written = json.loads((run.shard_dir("write", s.index) / "stats.json").read_text(encoding="utf-8"))
            kept += written["kept"]
            by_lang.update(written["kept_by_lang"])
            hist["after"] += written["lengths"]
            chars_kept += written["chars_kept"]
            for side in (read_stats, written):
                for key, values in side["groups"].items():
                    for value, entry in values.items():
                        total = groups[key].setdefault(value, {})
                        for k, v in entry.items():
                            total[k] = total.get(k, 0) + v
    stages: dict[str, dict[str, Any]] = {}
    for path in stat_files:
        for name, st in json.loads(path.read_text(encoding="utf-8"))["stages"].items():
            _add_stage(stages, name, st)
    write_json(run.out / "lengths.json", {"edges": LENGTH_EDGES.tolist(),     # for the report's histograms
                                          **{k: v.tolist() for k, v in hist.items()}})
    removed, n_quarantined = sum(by_reason.values()), sum(quarantined.values())
    manifest = {
        "settings_hash": run.cfg.settings_hash(), "inputs": run.cfg.inputs, "shards": len(shards),
        "docs_in": docs_in, "kept": kept, "removed": removed, "quarantined": n_quarantined,
        "kept_by_lang": dict(by_lang), "chars_kept": chars_kept,
        # documents / characters after reading and kept, per source file, per language (kept only:
        # the language is tagged after reading) and per domain (tagged per document at reading)
        "by_source": dict(sorted(groups["source"].items())), "by_lang": dict(sorted(groups["lang"].items())),
        "by_domain": dict(sorted(groups["domain"].items())),
        "removed_by_reason": dict(by_reason), "quarantined_by_file": dict(quarantined),
        "stage_order": [name for name in data_steps.plan(run.cfg).order if name in stages],  # JSON keys get sorted
        "stages": stages,
        "outputs": {"clean": [run.clean_path(s.index).relative_to(run.out).as_posix() for s in shards
                              if run.clean_path(s.index).exists()],
                    "removed": "removed.jsonl", "quarantine": "quarantine.jsonl", "clusters": "clusters.jsonl",
                    "lengths": "lengths.json"},
    }
    if docs_in != kept + removed + n_quarantined:
        raise RunError(f"accounting broken in {run.out}: docs_in {docs_in} != kept {kept} + removed "
                       f"{removed} + quarantined {n_quarantined}")
    _check_not_mostly_lost(run, docs_in, n_quarantined, by_reason, fields_seen)
    write_json(run.out / "manifest.json", manifest)
    tracking.log_data_run(run.cfg, manifest)     # before the step's marker: a failed upload is retried by a rerun
    for directory in [run.out, run.out / "clean", *(p for p in (run.out / "work").rglob("*") if p.is_dir())]:
        clean_stale_tmp(directory)
    return manifest


def _check_not_mostly_lost(run: Run, docs_in: int, n_quarantined: int, by_reason: Counter[str],
                           fields_seen: Counter[str]) -> None:
    """Fail a run that read nothing, or lost more than `fail_share` of its records to one cause."""
    cfg = run.cfg
    if docs_in == 0:
        raise RunError(f"no records in the inputs {cfg.inputs}: are they empty files?")
    limit, override = cfg.fail_share, "rerun with --allow-mostly-removed (fail_share=1) to accept it"
    if n_quarantined > limit * docs_in:
        share = "every one" if n_quarantined == docs_in else f"{n_quarantined} ({n_quarantined / docs_in:.0%})"
        if fields_seen:
            who = "no record" if n_quarantined == docs_in else "records"
            cause = (f"{who} had the text field {cfg.text_field!r} (fields seen: "
                     f"{', '.join(f for f, _ in fields_seen.most_common(10))}): set text_field")
        else:
            cause = f"e.g. {'; '.join(quarantine_summary(run.out, 3))}"
        raise RunError(f"{share} of the {docs_in} input records was quarantined: {cause}; "
                       f"details in {run.out}/quarantine.jsonl; {override}")
    reason, removed = max(by_reason.items(), key=lambda kv: kv[1], default=("", 0))
    if removed > limit * docs_in:
        settings = thresholds.describe(reason, to_dict(cfg))
        raise RunError(f"{reason} removed {removed} of the {docs_in} input records ({removed / docs_in:.0%}, "
                       f"more than fail_share {limit}){f': set by {settings}' if settings else ''}; examples in "
                       f"{run.out}/removed.jsonl; {override}")



def _groups(rows: list[tuple[str, int]], side: str) -> dict[str, dict[str, int]]:
    """Documents and characters per value, as {value: {side_docs, side_chars}}, from (value, chars) pairs."""
    out: dict[str, dict[str, int]] = {}
    for value, chars in rows:
        entry = out.setdefault(str(value), {f"{side}_docs": 0, f"{side}_chars": 0})
        entry[f"{side}_docs"] += 1
        entry[f"{side}_chars"] += chars
    return out


def _length_histogram(lengths: list[int]) -> np.ndarray:
    counts, _ = np.histogram(np.asarray(lengths, dtype=np.float64), bins=LENGTH_EDGES)
    return counts


def _copy_jsonl(path: Path, out: IO[str]) -> Iterator[dict[str, Any]]:
    """Append a jsonl file's lines to `out` unchanged, yielding each parsed record."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            out.write(line)
            yield json.loads(line)


def _add_stage(stages: dict[str, dict[str, Any]], name: str, st: dict[str, Any]) -> None:
    total = stages.setdefault(name, {"seen": 0, "kept": 0, "removed": {}, "counters": {}, "examples": {}, "metrics": {}})
    total["seen"] += st["seen"]
    total["kept"] += st["kept"]
    for key in ("removed", "counters"):
        for k, v in st[key].items():
            total[key][k] = total[key].get(k, 0) + v
    for k, hist in st.get("metrics", {}).items():          # fixed bins: the sum stays the same size
        total["metrics"][k] = histograms.merge(total["metrics"].get(k), hist)
    for k, examples in st.get("examples", {}).items():    # the first few per key, in shard order
        kept = total["examples"].setdefault(k, [])
        kept += examples[: max(0, EXAMPLES_PER_KEY - len(kept))]


# ---- orchestration ----------------------------------------------------------------------

MAP_FUNCS: dict[str, Callable[[Run, Any], None]] = {      # shard steps take an InputShard, the others an int
    "read": step_read, "linecount": step_linecount, "filter": step_filter, "lsh": step_lsh, "write": step_write}
REDUCE_FUNCS: dict[str, Callable[[Run], Any]] = {
    "plan": step_plan, "dedup": step_dedup, "finalize": step_finalize}
PREVIOUS = {"read": "plan", "linecount": "read", "filter": "linecount", "lsh": "filter", "dedup": "lsh",
            "write": "dedup", "finalize": "write"}


def _map_worker(args: tuple[DataConfig, str, int, Any]) -> int:
    cfg, step, index, unit = args
    run = Run(cfg)
    MAP_FUNCS[step](run, unit)
    _finish(run, step, index)
    return index


def _require(run: Run, step: str) -> None:
    """Refuse to start a step before the one it reads from has finished everywhere."""
    before = PREVIOUS[step]
    if before == "plan":
        return
    if before in REDUCE_FUNCS:
        missing = [] if run.marker(before).exists() else [before]
    else:
        missing = [f"{before}:{i}" for i in run.units(before) if not run.marker(before, i).exists()]
    if missing:
        raise RunError(f"step {step!r} needs step {before!r} finished first; not done: "
                       f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")


def run_step(cfg: DataConfig, step: str, task: int = 0, ntasks: int = 1) -> None:
    """Run one step; for map steps only the units (shards, buckets, LSH units) with index % ntasks == task."""
    run = Run(cfg)
    if step not in STEPS:
        raise ConfigError(f"unknown step {step!r}; steps are {', '.join(STEPS)}")
    if not 0 <= task < ntasks:
        raise ConfigError(f"--task must be in [0, --ntasks), got task {task} of {ntasks}")
    step_plan(run)       # makes the plan, or checks the settings match the existing run's
    if step == "plan" or clean_work.is_cleaned(run.out):
        return
    _require(run, step)
    if step in REDUCE_FUNCS:
        if run.marker(step).exists():
            return
        REDUCE_FUNCS[step](run)
        _finish(run, step)
        if step == "finalize" and cfg.global_steps.clean_work:
            clean_work.clean_work(run.out)
        return
    units = {s.index: s for s in run.shards()} if step in SHARD_STEPS else {i: i for i in run.units(step)}
    jobs = [(cfg, step, i, unit) for i, unit in units.items() if i % ntasks == task and not run.marker(step, i).exists()]
    if cfg.num_workers == 1 or len(jobs) <= 1:
        for _ in progress(map(_map_worker, jobs), step, len(jobs), "shard"):
            pass
    else:
        with multiprocessing.get_context("fork").Pool(min(cfg.num_workers, len(jobs))) as pool:
            for _ in progress(pool.imap_unordered(_map_worker, jobs), step, len(jobs), "unit"):
                pass


def run_all(cfg: DataConfig) -> dict[str, Any]:
    """Every step locally, skipping finished work; returns the manifest."""
    for step in STEPS:
        run_step(cfg, step)
    return json.loads((Path(cfg.output) / "manifest.json").read_text(encoding="utf-8"))


def quarantine_summary(out: Path, limit: int = 10) -> list[str]:
    """The first quarantine records as `file:line: error` lines for the console."""
    messages = []
    path = out / "quarantine.jsonl"
    if path.exists():
        for record in read_jsonl(path):
            q = Quarantine(**record)
            where = f"{q.file}:{q.line}" if q.line is not None else q.file
            messages.append(f"{where}: {q.error}")
            if len(messages) == limit:
                break
    return messages
