"""Tokenize cleaned shards in parallel and pack them into the `dataprep.packed` format, resumably.

One task per cleaned shard: a worker process encodes the shard's documents, writes one packed
shard per split (train/validation by document-id hash) and then a marker `.done/<shard>.json`.
The marker is written last, so a rerun skips exactly the shards whose marker exists for the same
tokenizer and input size and whose packed files still have their recorded sizes, and redoes the
rest (their packed files are replaced atomically). The manifest is written once every shard is done.
"""
from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import sentencepiece as spm

from common.atomic import clean_stale_tmp, sha256_file, write_json
from common.config import ConfigError
from common.progress import progress
from dataprep.core import Document
from dataprep.packed import HEADER, SPLITS, ShardInfo, ShardWriter, dtype_for_vocab, split_of, write_manifest
from dataprep.reader import InputError, expand_inputs, iter_documents
from dataprep.tokenizer.files import sentencepiece_model
from dataprep.tracking import DataWandbConfig, log_pack

MARKERS = ".done"
SHARD_FIELDS = {f.name for f in dataclasses.fields(ShardInfo)}
ENCODE_BATCH = 256


@dataclasses.dataclass
class PackConfig:
    inputs: list[str] = dataclasses.field(default_factory=list)   # cleaned shards: files, dirs or globs
    tokenizer: str = ""                # the tokenizer: its directory or tokenizer.model
    output: str = "runs/packed"
    validation_ratio: float = 0.005    # share of documents (by id hash) held out for validation
    num_workers: int = 2               # processes; one cleaned shard per task
    text_field: str = "text"
    wandb: DataWandbConfig = dataclasses.field(default_factory=DataWandbConfig)   # counts to W&B: off unless enabled

    def validate(self) -> None:
        if not 0.0 <= self.validation_ratio < 1.0:
            raise ConfigError("validation_ratio must be in [0, 1)")
        if self.num_workers < 1:
            raise ConfigError("num_workers must be >= 1")


class PackError(RuntimeError):
    """Some shards could not be packed; the message lists each shard and why."""


@dataclasses.dataclass
class ShardTask:
    input: str
    name: str
    output: str
    tokenizer: str
    tokenizer_sha256: str
    validation_ratio: float
    text_field: str


_WORKER_SP: dict[str, spm.SentencePieceProcessor] = {}


def _processor(model_file: str) -> spm.SentencePieceProcessor:
    """One loaded model per process (workers are reused across shards)."""
    if model_file not in _WORKER_SP:
        _WORKER_SP[model_file] = spm.SentencePieceProcessor(model_file=model_file, num_threads=1)
    return _WORKER_SP[model_file]


def marker_path(output: str | Path, name: str) -> Path:
    return Path(output) / MARKERS / f"{name}.json"


def pack_shard(task: ShardTask) -> dict[str, Any]:
    """Encode and write one cleaned shard; returns its marker record (also written to disk)."""
    sp = _processor(task.tokenizer)
    dtype = dtype_for_vocab(sp.vocab_size())
    writers = {split: ShardWriter(task.output, split, task.name, dtype) for split in SPLITS}
    chars = dict.fromkeys(SPLITS, 0)
    empty = 0
    try:
        for batch in _batched(iter_documents([task.input], task.text_field, carry=("lang", "domain"))):
            kept = [doc for doc in batch if doc.text]
            empty += len(batch) - len(kept)
            for doc, ids in zip(kept, sp.encode([d.text for d in kept])):
                split = split_of(doc.id, task.validation_ratio)
                writers[split].add(np.asarray(ids, dtype=np.int64), source=doc.source, lang=doc.meta.get("lang", ""),
                                   domain=doc.meta.get("domain", ""), characters=len(doc.text))
                chars[split] += len(doc.text)
        infos = {split: writer.finish() for split, writer in writers.items()}
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    record = {"input": task.input, "input_size": os.path.getsize(task.input), "dtype": dtype.name,
              "tokenizer_sha256": task.tokenizer_sha256, "characters": chars, "empty_documents": empty,
              "shards": {split: dataclasses.asdict(info) for split, info in infos.items()}}
    write_json(marker_path(task.output, task.name), record)
    return record


def _batched(documents: Iterable[Document]) -> Iterator[list[Document]]:
    """Batches of ENCODE_BATCH documents: one encode call per batch amortises the Python overhead."""
    batch: list[Document] = []
    for doc in documents:
        batch.append(doc)
        if len(batch) == ENCODE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _run_task(task: ShardTask) -> tuple[str, dict[str, Any] | None, str | None]:
    """Worker entry: never raises, so one bad shard does not stop the others."""
    try:
        return task.name, pack_shard(task), None
    except InputError as exc:                  # already names the file and line/field
        return task.name, None, str(exc)
    except (OSError, ValueError) as exc:
        return task.name, None, f"{task.input}: {type(exc).__name__}: {exc}"


def _finished(task: ShardTask) -> dict[str, Any] | None:
    """The marker of an already packed shard, if it matches this tokenizer and input size."""
    path = marker_path(task.output, task.name)
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    same = (record.get("tokenizer_sha256") == task.tokenizer_sha256
            and record.get("input_size") == os.path.getsize(task.input)
            and all(set(info) == SHARD_FIELDS for info in record["shards"].values()))   # not an older format's
    return record if same and all(_sizes_match(task, split, record) for split in SPLITS) else None


def _sizes_match(task: ShardTask, split: str, record: dict[str, Any]) -> bool:
    """Cheap check that a finished shard's files are still whole (a truncated one is packed again)."""
    info, itemsize = record["shards"][split], np.dtype(record["dtype"]).itemsize
    expected = {"bin": info["num_tokens"] * itemsize, "idx": HEADER.size + 8 * (info["num_documents"] + 1)}
    for ext, size in expected.items():
        path = Path(task.output) / split / f"{task.name}.{ext}"
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def plan_tasks(config: PackConfig) -> list[ShardTask]:
    model = sentencepiece_model(config.tokenizer)
    if not config.inputs:
        raise ConfigError("no inputs: give the cleaned shards (e.g. <data_out>/clean)")
    files = [Path(path) for path, _ in expand_inputs(config.inputs)]    # ConfigError names a missing input
    if not files:
        raise ConfigError(f"no input files in {config.inputs} (expected .parquet, .jsonl[.gz|.zst] or .txt)")
    names: dict[str, Path] = {}
    for path in files:
        if path.stem in names:
            raise ConfigError(f"two input shards share the name {path.stem!r}: {names[path.stem]} and {path}")
        names[path.stem] = path
    digest = sha256_file(model)
    return [ShardTask(str(path), name, config.output, str(Path(model).resolve()), digest,
                      config.validation_ratio, config.text_field) for name, path in names.items()]


def pack(config: PackConfig, log=print) -> dict[str, Any]:
    """Pack every input shard (skipping finished ones) and write the manifest; returns it."""
    tasks = plan_tasks(config)
    out = Path(config.output)
    for directory in (out, *(out / s for s in SPLITS), out / MARKERS):
        clean_stale_tmp(directory)
    records: dict[str, dict[str, Any]] = {}
    pending = []
    for task in tasks:
        done = _finished(task)
        if done is None:
            pending.append(task)
        else:
            records[task.name] = done
    log(f"pack: {len(tasks)} shards, {len(records)} already done, {len(pending)} to do")
    errors = []
    workers = min(config.num_workers, len(pending))
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = list(progress(pool.imap_unordered(_run_task, pending), "pack", len(pending), "shard"))
    else:
        results = list(progress(map(_run_task, pending), "pack", len(pending), "shard"))
    for name, record, error in results:
        if error:
            errors.append(f"shard {name}: {error}")
        else:
            records[name] = record
            log(f"pack: shard {name} done")
    if errors:
        raise PackError("; ".join(sorted(errors)) + f" ({len(records)} of {len(tasks)} shards packed; "
                        "fix or remove the failed inputs and rerun: finished shards are skipped)")
    sp = _processor(tasks[0].tokenizer)
    shards = [ShardInfo(**records[t.name]["shards"][split]) for t in tasks for split in SPLITS]
    characters = {split: sum(records[t.name]["characters"][split] for t in tasks) for split in SPLITS}
    manifest = write_manifest(
        out, shards, dtype=dtype_for_vocab(sp.vocab_size()), vocab_size=sp.vocab_size(), eos_id=sp.eos_id(),
        tokenizer_sha256=tasks[0].tokenizer_sha256, validation_ratio=config.validation_ratio,
        extra={"tokenizer": tasks[0].tokenizer, "characters": characters,
               "empty_documents_skipped": sum(r["empty_documents"] for r in records.values()),
               "inputs": [t.input for t in tasks]})
    log_pack(config, manifest)
    return manifest


def count_tokens(inputs: list[str], tokenizer: str, text_field: str = "text") -> dict[str, Any]:
    """Documents, characters and tokens of text files under one tokenizer (no eos counted)."""
    sp = _processor(tokenizer)
    totals = {"documents": 0, "characters": 0, "tokens": 0}
    for batch in _batched(iter_documents(inputs, text_field)):
        texts = [doc.text for doc in batch]
        totals["documents"] += len(texts)
        totals["characters"] += sum(map(len, texts))
        totals["tokens"] += sum(map(len, sp.encode(texts)))
    totals["chars_per_token"] = totals["characters"] / totals["tokens"] if totals["tokens"] else 0.0
    return totals
