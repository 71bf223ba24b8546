"""The data-preparation run: steps over shards, each resumable, runnable locally or as Slurm tasks.

Steps, in order ("map" steps work shard by shard and take `--task I --ntasks N`: task I
does the shards whose index % N == I; "reduce" steps are global and run once):

  plan       reduce  <out>/plan.json: the input shards (records [start, start+count) of a file)
                     and the settings hash (a rerun with other settings is refused), and
                     <out>/config.yaml: every setting that shapes the outputs, defaults included.
  read       map     work/read/shard-K/: read + quarantine + size checks + normalise ->
                     docs.parquet, linecounts.parquet (normalised-line key -> #docs, for the
                     line cleaner), removed.jsonl, quarantine.jsonl, stats.json.
  linecount  reduce  work/linecount/repeated.parquet: line keys seen in >= lines.min_docs docs.
  filter     map     work/filter/shard-K/: language tag, then the document steps listed before
                     the dedup steps (by default line cleaning, quality, safety), exact hashes
                     (hashes.npy), MinHash signatures (sig.npy, valid.npy).
  dedup      reduce  work/dedup/decision-K.npy (0 keep, 1 exact dup, 2 near dup), stats.json,
                     and <out>/clusters.jsonl; LSH runs band by band over memory-mapped sig.npy.
  write      map     the document steps listed after the dedup steps, on the documents dedup
                     kept, then <out>/clean/part-K.parquet (id, text, source, lang, domain, and the
                     columns stages declare, e.g. quality_score) and work/write/shard-K/
                     removed.jsonl + stats.json.

Which stages run and in which order is the config's `steps` list (dataprep/steps.py); the
passes above are fixed, so the local and Slurm-array executors run any list the same way.
  finalize   reduce  <out>/removed.jsonl, <out>/quarantine.jsonl, <out>/manifest.json and
                     <out>/lengths.json (histograms of chars per doc after normalising / after
                     cleaning: fixed bins, so its size does not grow with the corpus); checks
                     docs_in == kept + removed + quarantined and raises if not.

`dataprep run --config C` runs all steps locally, per-shard steps over `num_workers`
processes. Every step's outputs are written atomically and followed by a `done.json`
marker; a rerun skips what has a marker, so a killed run resumes where it stopped. Output
shards match input shards one to one, so outputs are the same whatever N or num_workers.
"""
from __future__ import annotations

import dataclasses
import functools
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
from common.atomic import atomic_write, clean_stale_tmp, write_json, write_text
from common.config import ConfigError, to_dict
from common.progress import progress
from dataprep import domains
from dataprep import steps as data_steps
from dataprep import thresholds
from dataprep.config import DataConfig
from dataprep.core import Document, Quarantine, Stage, StageStats
from dataprep.stages import exact_dedup, lines, minhash
from dataprep.stages.normalize import detect_lang
from dataprep.reader import InputShard, ShardReader, plan_shards
from dataprep.stages.read import ReadChecks
from dataprep.writer import CLEAN_SCHEMA, read_jsonl, read_parquet, write_jsonl, write_npy, write_parquet

MAP_STEPS = ("read", "filter", "write")
REDUCE_STEPS = ("plan", "linecount", "dedup", "finalize")
STEPS = ("plan", "read", "linecount", "filter", "dedup", "write", "finalize")
KILL_ENV = "DATAPREP_KILL_AT"      # test hook: "<step>:<shard>" SIGKILLs the run before that marker

DOCS_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()),
                         ("line", pa.int64())])
FILTERED_SCHEMA = pa.schema([*DOCS_SCHEMA, pa.field("lang", pa.string()), pa.field("domain", pa.string())])
LINECOUNT_SCHEMA = pa.schema([("key", pa.string()), ("docs", pa.int64())])
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

    def step_dir(self, step: str) -> Path:
        return self.out / "work" / step

    def marker(self, step: str, index: int | None = None) -> Path:
        base = self.step_dir(step) if index is None else self.shard_dir(step, index)
        return base / "done.json"

    def clean_path(self, index: int) -> Path:
        return self.out / "clean" / f"part-{index:05d}.parquet"

    def shards(self) -> list[InputShard]:
        plan = json.loads((self.out / "plan.json").read_text(encoding="utf-8"))
        return [InputShard(**s) for s in plan["shards"]]


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
    return {"id": doc.id, "text": doc.text, "source": doc.source, "line": doc.meta.get("line", 0)}


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
    counts: Counter[str] = Counter()
    if data_steps.uses_line_counts(cfg):
        for doc in docs:
            counts.update(set(lines.line_keys(doc, cfg.lines)))
    out = run.shard_dir("read", shard.index)
    write_parquet(out / "docs.parquet", [_doc_row(doc) for doc in docs], DOCS_SCHEMA)
    write_parquet(out / "linecounts.parquet", [{"key": k, "docs": n} for k, n in sorted(counts.items())],
                  LINECOUNT_SCHEMA)
    write_jsonl(out / "removed.jsonl", _removals(stats))
    write_jsonl(out / "quarantine.jsonl", [q.to_json() for q in reader.quarantined])
    write_json(out / "stats.json", {"records": reader.records, "blank_lines": reader.blank_lines,
                                    "fields_seen": dict(reader.fields_seen), "stages": _stats_json(stats)})


def step_linecount(run: Run) -> None:
    tables = [pq.read_table(run.shard_dir("read", s.index) / "linecounts.parquet")
              for s in run.shards()]
    merged = pa.concat_tables(tables, promote_options="none") if tables else LINECOUNT_SCHEMA.empty_table()
    summed = merged.group_by("key").aggregate([("docs", "sum")]).rename_columns(["key", "docs"])
    repeated = summed.filter(pc.greater_equal(summed["docs"], run.cfg.lines.min_docs))
    repeated = repeated.sort_by("key")
    write_parquet(run.step_dir("linecount") / "repeated.parquet", repeated.to_pylist(), LINECOUNT_SCHEMA)


_REPEATED_CACHE: dict[str, set[str]] = {}


def _repeated(run: Run) -> set[str]:
    """The repeated-line keys, loaded once per worker process."""
    path = str(run.step_dir("linecount") / "repeated.parquet")
    if path not in _REPEATED_CACHE:
        _REPEATED_CACHE.clear()
        _REPEATED_CACHE[path] = {r["key"] for r in read_parquet(Path(path), ["key"])}
    return _REPEATED_CACHE[path]


def _filtered_row(doc: Document, columns: list[pa.Field]) -> dict[str, Any]:
    return {**_doc_row(doc), "lang": doc.meta["lang"], "domain": doc.meta["domain"], **{f.name: doc.meta.get(f.name) for f in columns}}


def step_filter(run: Run, shard: InputShard) -> None:
    cfg = run.cfg
    plan = data_steps.plan(cfg)
    rows = read_parquet(run.shard_dir("read", shard.index) / "docs.parquet")
    docs = (Document(r["id"], r["text"], r["source"], {"line": r["line"]}) for r in rows)
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
    write_jsonl(out / "removed.jsonl", _removals(stats))
    write_json(out / "stats.json", {"stages": _stats_json(stats)})


def _tag_lang(docs: Iterable[Document], cfg: DataConfig) -> Iterable[Document]:
    """Set doc.meta["lang"] once, before the stages that choose rules by language, and the domain
    (dataprep/domains.py) from the source."""
    for doc in docs:
        doc.meta["lang"] = detect_lang(doc.text, cfg.lang_zh_min_han)
        doc.meta["domain"] = cfg.domain.of(doc.source)
        yield doc


def step_dedup(run: Run) -> None:
    """Global exact + near dedup over all shards in plan order; memory ~ documents x (16 + 8 + 36) bytes."""
    cfg, shards = run.cfg, run.shards()
    plan = data_steps.plan(cfg)
    dirs = [run.shard_dir("filter", s.index) for s in shards]
    valids = [np.load(d / "valid.npy") for d in dirs]
    valid = np.concatenate(valids) if dirs else np.zeros(0, bool)
    hashes = np.concatenate([np.load(d / "hashes.npy") for d in dirs]) if dirs else np.zeros((0, 2), np.uint64)
    n = len(hashes)
    index = np.arange(n, dtype=np.int64)
    first = exact_dedup.first_occurrences(hashes) if "exact_dedup" in plan.dedup else index
    decision = np.where(first != index, EXACT, KEEP).astype(np.int8)
    exact = StageStats("exact_dedup")
    exact.seen, exact.kept = n, int((decision == KEEP).sum())
    exact.removed["exact_duplicate"] = n - exact.kept
    near = StageStats("minhash")
    near.seen = exact.kept
    clusters: list[dict[str, Any]] = []
    if "minhash" in plan.dedup and n:
        mh = cfg.minhash
        bands, rows = minhash.band_params(mh.threshold, mh.num_perm, mh.false_positive_weight,
                                          mh.false_negative_weight)
        store = minhash.SignatureStore([d / "sig.npy" for d in dirs])
        alive = np.flatnonzero(valid & (decision == KEEP))
        bar = functools.partial(progress, desc="dedup: LSH", total=bands, unit="band")
        roots = minhash.lsh_clusters(store, alive, mh.threshold, bands, rows, bar).roots()
        decision[(roots != index) & (decision == KEEP)] = NEAR
        clusters = _clusters(run, shards, store, roots)
        near.count("bands", bands)
        near.count("rows_per_band", rows)
        near.count("clusters", len(clusters))
        near.count("no_shingles", int((~valid & (decision != EXACT)).sum()))
    near.removed["near_duplicate"] = int((decision == NEAR).sum())
    near.kept = near.seen - near.removed["near_duplicate"]
    offsets = np.cumsum([0] + [len(v) for v in valids])
    for s, lo, hi in zip(shards, offsets[:-1], offsets[1:]):
        write_npy(run.step_dir("dedup") / f"decision-{s.index:05d}.npy", decision[lo:hi])
    write_jsonl(run.out / "clusters.jsonl", clusters)
    ran = [st for st in (exact, near) if st.stage in plan.dedup]
    write_json(run.step_dir("dedup") / "stats.json", {"stages": _stats_json(ran)})


def _clusters(run: Run, shards: list[InputShard], store: minhash.SignatureStore,
              roots: np.ndarray) -> list[dict[str, Any]]:
    """One record per near-duplicate cluster: kept id, member ids and similarity to the kept doc."""
    members = np.flatnonzero(roots != np.arange(len(roots)))
    if len(members) == 0:
        return []
    kept = roots[members]
    sims = minhash.similarity(store, kept, members)
    needed = np.union1d(members, kept)
    ids = _ids_at(run, shards, store.offsets, needed)
    groups: dict[int, list[dict[str, Any]]] = {}
    for member, root, sim in zip(members.tolist(), kept.tolist(), sims.tolist()):
        groups.setdefault(root, []).append({"id": ids[member], "similarity": round(sim, 4)})
    return [{"kept": ids[root], "size": len(group) + 1, "duplicates": group}
            for root, group in sorted(groups.items())]


def _ids_at(run: Run, shards: list[InputShard], offsets: np.ndarray, needed: np.ndarray) -> dict[int, str]:
    ids: dict[int, str] = {}
    shard_of = np.searchsorted(offsets, needed, side="right") - 1
    for pos in np.unique(shard_of):
        column = read_parquet(run.shard_dir("filter", shards[pos].index) / "docs.parquet", ["id"])
        for g in needed[shard_of == pos].tolist():
            ids[g] = column[g - int(offsets[pos])]["id"]
    return ids


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
    write_jsonl(out / "removed.jsonl", _removals([*dedup_stats.values(), *stats]))
    write_json(out / "stats.json", {"stages": _stats_json(stats)})
    if kept:    # no empty shards: `datasets` cannot read a parquet file without rows
        write_parquet(run.clean_path(shard.index), kept, pa.schema([*CLEAN_SCHEMA, *columns]))


def step_finalize(run: Run) -> dict[str, Any]:
    """Merge per-shard records, write the manifest, and check that every input doc is accounted for.

    removed.jsonl and quarantine.jsonl are streamed shard by shard, so memory does not grow
    with the number of removed documents.
    """
    shards = run.shards()
    docs_in = kept = 0
    by_reason: Counter[str] = Counter()
    by_lang: Counter[str] = Counter()
    quarantined: Counter[str] = Counter()
    fields_seen: Counter[str] = Counter()
    groups: dict[str, dict[str, dict[str, int]]] = {"source": {}, "lang": {}}
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
            before = pq.read_table(read_dir / "docs.parquet", columns=["text", "source"])
            hist["before"] += _length_histogram(pc.utf8_length(before.column("text")))
            _add_groups(groups, before, "source", "read")
            if run.clean_path(s.index).exists():
                table = pq.read_table(run.clean_path(s.index), columns=["text", "lang", "source"])
                kept += table.num_rows
                by_lang.update(table.column("lang").to_pylist())
                after = pc.utf8_length(table.column("text"))
                hist["after"] += _length_histogram(after)
                chars_kept += pc.sum(after).as_py() or 0
                _add_groups(groups, table, "source", "kept")
                _add_groups(groups, table, "lang", "kept")
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
        # documents / characters after reading and kept, per source file and per language (kept only:
        # the language is tagged after reading)
        "by_source": dict(sorted(groups["source"].items())), "by_lang": dict(sorted(groups["lang"].items())),
        "by_domain": domains.by_domain(groups["source"], run.cfg.domain),    # by the config's source -> domain rules
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


def _add_groups(groups: dict[str, dict[str, dict[str, int]]], table: pa.Table, key: str, side: str) -> None:
    """Add a table's documents and characters per value of `key` into groups[key][value][side_docs/_chars]."""
    summed = table.append_column("chars", pc.utf8_length(table.column("text"))).group_by(key).aggregate(
        [("chars", "count"), ("chars", "sum")])
    for value, docs, chars in zip(summed[key].to_pylist(), summed["chars_count"].to_pylist(),
                                  summed["chars_sum"].to_pylist()):
        entry = groups[key].setdefault(str(value), {})
        entry[f"{side}_docs"] = entry.get(f"{side}_docs", 0) + docs
        entry[f"{side}_chars"] = entry.get(f"{side}_chars", 0) + (chars or 0)


def _length_histogram(lengths: pa.Array) -> np.ndarray:
    counts, _ = np.histogram(lengths.to_numpy(zero_copy_only=False), bins=LENGTH_EDGES)
    return counts


def _copy_jsonl(path: Path, out: IO[str]) -> Iterator[dict[str, Any]]:
    """Append a jsonl file's lines to `out` unchanged, yielding each parsed record."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            out.write(line)
            yield json.loads(line)


def _add_stage(stages: dict[str, dict[str, Any]], name: str, st: dict[str, Any]) -> None:
    total = stages.setdefault(name, {"seen": 0, "kept": 0, "removed": {}, "counters": {}, "examples": {}})
    total["seen"] += st["seen"]
    total["kept"] += st["kept"]
    for key in ("removed", "counters"):
        for k, v in st[key].items():
            total[key][k] = total[key].get(k, 0) + v
    for k, examples in st.get("examples", {}).items():    # the first few per key, in shard order
        kept = total["examples"].setdefault(k, [])
        kept += examples[: max(0, EXAMPLES_PER_KEY - len(kept))]


# ---- orchestration ----------------------------------------------------------------------

MAP_FUNCS: dict[str, Callable[[Run, InputShard], None]] = {
    "read": step_read, "filter": step_filter, "write": step_write}
REDUCE_FUNCS: dict[str, Callable[[Run], Any]] = {
    "plan": step_plan, "linecount": step_linecount, "dedup": step_dedup, "finalize": step_finalize}
PREVIOUS = {"read": "plan", "linecount": "read", "filter": "linecount", "dedup": "filter",
            "write": "dedup", "finalize": "write"}


def _map_worker(args: tuple[DataConfig, str, InputShard]) -> int:
    cfg, step, shard = args
    run = Run(cfg)
    MAP_FUNCS[step](run, shard)
    _finish(run, step, shard.index)
    return shard.index


def _require(run: Run, step: str) -> None:
    """Refuse to start a step before the one it reads from has finished everywhere."""
    before = PREVIOUS[step]
    if before == "plan":
        return
    if before in REDUCE_FUNCS:
        missing = [] if run.marker(before).exists() else [before]
    else:
        missing = [f"{before}:{s.index}" for s in run.shards() if not run.marker(before, s.index).exists()]
    if missing:
        raise RunError(f"step {step!r} needs step {before!r} finished first; not done: "
                       f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")


def run_step(cfg: DataConfig, step: str, task: int = 0, ntasks: int = 1) -> None:
    """Run one step; for map steps only shards with index % ntasks == task."""
    run = Run(cfg)
    if step not in STEPS:
        raise ConfigError(f"unknown step {step!r}; steps are {', '.join(STEPS)}")
    if not 0 <= task < ntasks:
        raise ConfigError(f"--task must be in [0, --ntasks), got task {task} of {ntasks}")
    step_plan(run)       # makes the plan, or checks the settings match the existing run's
    if step == "plan":
        return
    _require(run, step)
    if step in REDUCE_FUNCS:
        if run.marker(step).exists():
            return
        REDUCE_FUNCS[step](run)
        _finish(run, step)
        return
    todo = [s for s in run.shards() if s.index % ntasks == task and not run.marker(step, s.index).exists()]
    jobs = [(cfg, step, s) for s in todo]
    if cfg.num_workers == 1 or len(jobs) <= 1:
        for _ in progress(map(_map_worker, jobs), step, len(jobs), "shard"):
            pass
    else:
        with multiprocessing.get_context("fork").Pool(min(cfg.num_workers, len(jobs))) as pool:
            for _ in progress(pool.imap_unordered(_map_worker, jobs), step, len(jobs), "shard"):
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
