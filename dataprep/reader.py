"""The one reader of the project: raw or cleaned corpora into Documents, for every command.

`dataprep run` reads shard by shard (`plan_shards` + `ShardReader`, bad records quarantined);
tokenizer training and evaluation, `pack` and `count` read whole inputs with `iter_documents`,
which stops at the first bad record with an `InputError` naming its file and line. Both see the
same formats with the same meaning: a jsonl record or parquet row is a document, a .txt file is
one document.

Formats: jsonl / jsonl.gz / jsonl.zst (one JSON object per line), parquet, .arrow files (what
`datasets.Dataset.save_to_disk` writes: give its directory as an input), .txt files
(one document per file), and `hf:NAME[:SPLIT]` (split "train" by default): a dataset in the local
Hugging Face datasets cache, found offline as `datasets.load_dataset(NAME, streaming=True)` finds
it and read from its cached .arrow files. jsonl is read line by line here rather than with `datasets`:
`datasets` (and pyarrow's JSON reader) fail the whole file on one broken line and do not
report line numbers, while we want a quarantine record naming the file and line and the
rest of the file kept. Parquet is read with pyarrow, which gives row numbers and lets a
shard read just its row range; a row number is reported as the "line".

Shards: `plan_shards` splits each file into runs of `shard_size` records and groups .txt files
by `shard_size`. A plain .jsonl shard seeks to its byte offset; compressed files cannot seek, so
a shard inside one is reached by decompressing the lines before it: prefer many compressed
files of about one shard each over one huge .jsonl.gz.

Every record becomes either a Document (id kept from the input's id field, else
`<file stem>:<line>`, where a file found inside an input directory is named by its path from
that directory's parent, e.g. `raw/sub/part-0:17`, so that equal stems in different folders do
not collide), a Quarantine record (broken JSON, missing or non-string text, an
unreadable file), or a removal with a reason (empty, too large) by the `ReadChecks` stage.
"""
from __future__ import annotations

import dataclasses
import glob
import gzip
import io
import json
from collections import Counter
from pathlib import Path
from typing import IO, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from common.config import ConfigError
from dataprep.core import Document, Quarantine

HF_PREFIX = "hf:"
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst")
SUPPORTED = JSONL_SUFFIXES + (".parquet", ".arrow", ".txt")
TABLE_KINDS = {".parquet": "parquet", ".arrow": "arrow"}


@dataclasses.dataclass
class InputShard:
    """A contiguous slice of one input: records [start, start + count) of `path`."""
    index: int
    path: str
    kind: str                  # "jsonl", "parquet", "arrow", "txt" or "broken"
    id_prefix: str             # ids of records without an id: f"{id_prefix}:{line}"
    start: int = 0             # first line / row / file index (0-based)
    count: int = 0
    offset: int = 0            # byte offset of line `start` (plain .jsonl only)
    files: list[str] = dataclasses.field(default_factory=list)   # txt shards: the files
    prefixes: list[str] = dataclasses.field(default_factory=list)  # txt shards: their ids
    error: str = ""            # broken shards: why the file could not be opened

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


class InputError(ValueError):
    """Unreadable input for a command that cannot quarantine; the message names the file and line."""


def _suffix(path: str) -> str | None:
    return next((s for s in SUPPORTED if path.endswith(s)), None)


def _strip_suffix(name: str) -> str:
    suffix = _suffix(name)
    return name[: -len(suffix)] if suffix else name


def expand_inputs(patterns: list[str]) -> list[tuple[str, str]]:
    """(path, id_prefix) for every input file, sorted by path so the order is deterministic."""
    found: dict[str, str] = {}
    for pattern in patterns:
        if pattern.startswith(HF_PREFIX):
            for path in cached_dataset_files(pattern):
                found.setdefault(path, f"{pattern[len(HF_PREFIX):]}/{_strip_suffix(Path(path).name)}")
            continue
        matches = sorted(glob.glob(pattern, recursive=True)) or [pattern]
        for match in matches:
            path = Path(match)
            if path.is_dir():
                files = [c for c in sorted(path.rglob("*")) if c.is_file()]
                usable = [c for c in files if _suffix(c.name)]
                if files and not usable:        # e.g. a directory of .json files: say so, do not read nothing
                    kinds = sorted({"".join(c.suffixes) or c.name for c in files})
                    raise ConfigError(f"input {match}: no readable files (found {', '.join(kinds[:8])}); "
                                      f"supported: {', '.join(SUPPORTED)} (JSON lines must be named .jsonl)")
                for child in usable:
                    rel = child.relative_to(path.parent).as_posix()
                    found.setdefault(child.as_posix(), _strip_suffix(rel))
            elif path.is_file():
                if not _suffix(path.name):
                    raise ConfigError(f"input {match}: unsupported file type (use {', '.join(SUPPORTED)})")
                found.setdefault(path.as_posix(), _strip_suffix(path.name))
            else:
                raise ConfigError(f"input {pattern!r} matches no file or directory")
    return sorted(found.items())


def cached_dataset_files(spec: str) -> list[str]:
    """`hf:NAME[:SPLIT]` -> the .arrow files of that split in the local datasets cache, without network.

    The lookup is the one `load_dataset(NAME, streaming=True)` does offline (datasets' Cache builder).
    """
    from datasets import config as hf_config
    from datasets.naming import camelcase_to_snakecase, filenames_for_dataset_split
    from datasets.packaged_modules.cache.cache import Cache

    name, _, split = spec[len(HF_PREFIX):].partition(":")
    split = split or "train"
    try:
        builder = Cache(repo_id=name, dataset_name=camelcase_to_snakecase(name.split("/")[-1]),
                        hash="auto", version="auto")
    except ValueError:
        raise ConfigError(f"input {spec}: {name!r} is not in the local Hugging Face datasets cache "
                          f"({hf_config.HF_DATASETS_CACHE}): load it once with datasets.load_dataset({name!r}), "
                          f"or give its files") from None
    splits = builder.info.splits or {}
    if split not in splits:
        raise ConfigError(f"input {spec}: the cached {name!r} has no split {split!r} (has: {', '.join(splits)})")
    return filenames_for_dataset_split(builder.cache_dir, dataset_name=builder.dataset_name, split=split,
                                       filetype_suffix="arrow", shard_lengths=splits[split].shard_lengths)


def _open_lines(path: str) -> IO[bytes]:
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".zst"):
        raw = open(path, "rb")
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return open(path, "rb")


def _count_jsonl(path: str, shard_size: int) -> tuple[int, list[int]]:
    """Number of lines and the byte offset of every shard_size-th line (plain files only).

    A corrupt or truncated compressed file counts up to where it breaks, plus one record for
    the unreadable rest, which the reader then quarantines with its line number.
    """
    lines, offsets, pos = 0, [], 0
    with _open_lines(path) as handle:
        try:
            for raw in handle:
                if lines % shard_size == 0:
                    offsets.append(pos)
                lines += 1
                pos += len(raw)
        except (OSError, EOFError, zstandard.ZstdError):
            lines += 1
    return lines, offsets


def plan_shards(patterns: list[str], shard_size: int) -> list[InputShard]:
    """Split the inputs into shards of at most shard_size records; the plan depends only on inputs."""
    shards: list[InputShard] = []
    txt_files: list[tuple[str, str]] = []

    def add(**kw) -> None:
        shards.append(InputShard(index=len(shards), **kw))

    for path, prefix in expand_inputs(patterns):
        if path.endswith(".txt"):
            txt_files.append((path, prefix))
            continue
        try:
            kind = TABLE_KINDS.get(Path(path).suffix, "jsonl")
            if kind == "jsonl":
                total, offsets = _count_jsonl(path, shard_size)
            else:
                total, offsets = _table_rows(path, kind), []
        except Exception as exc:  # unreadable or corrupt file: quarantined as a whole
            add(path=path, kind="broken", id_prefix=prefix, count=1, error=f"{type(exc).__name__}: {exc}")
            continue
        for n, start in enumerate(range(0, total, shard_size)):
            offset = offsets[n] if path.endswith(".jsonl") else 0
            add(path=path, kind=kind, id_prefix=prefix, start=start,
                count=min(shard_size, total - start), offset=offset)
    for start in range(0, len(txt_files), shard_size):
        chunk = txt_files[start:start + shard_size]
        add(path=chunk[0][0], kind="txt", id_prefix="", start=start, count=len(chunk),
            files=[p for p, _ in chunk], prefixes=[prefix for _, prefix in chunk])
    return shards


def _table_rows(path: str, kind: str) -> int:
    if kind == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with pa.memory_map(path) as source:          # memory-mapped: counting reads no column data
        return sum(batch.num_rows for batch in pa.ipc.open_stream(source))


def _table_columns(path: str, kind: str) -> list[str]:
    if kind == "parquet":
        return pq.ParquetFile(path).schema_arrow.names
    with pa.memory_map(path) as source:
        return pa.ipc.open_stream(source).schema.names


def _table_batches(path: str, kind: str, wanted: list[str]) -> Iterator[pa.RecordBatch]:
    """Record batches of a parquet or arrow (IPC stream, as save_to_disk writes) file, with the wanted
    columns that exist."""
    if kind == "parquet":
        pfile = pq.ParquetFile(path)
        columns = [c for c in wanted if c in pfile.schema_arrow.names]
        yield from pfile.iter_batches(columns=columns, batch_size=4096)
        return
    with pa.memory_map(path) as source:
        for batch in pa.ipc.open_stream(source):
            yield batch.select([c for c in wanted if c in batch.schema.names])


def _decode(raw: bytes) -> tuple[str, bool]:
    """UTF-8 text, with invalid bytes replaced by U+FFFD; the flag says whether any were."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


class ShardReader:
    """Yields the Documents of one shard; bad records go to `self.quarantined`.

    `carry` names record fields copied into `doc.meta` when present (e.g. "lang" of a cleaned
    shard); a string `source` field, when `source_field` names it, replaces the file as the
    document's source (cleaned shards keep the raw file each document came from).
    """

    def __init__(self, shard: InputShard, text_field: str, id_field: str, carry: tuple[str, ...] = (),
                 source_field: str | None = None):
        self.shard = shard
        self.text_field = text_field
        self.id_field = id_field
        self.carry = carry
        self.source_field = source_field
        self.quarantined: list[Quarantine] = []
        self.records = 0          # records read (documents + quarantined), i.e. docs_in
        self.blank_lines = 0
        self.fields_seen: Counter[str] = Counter()   # fields of the records that lacked the text field
        self._columns: list[str] | None = None       # a table's columns (only the wanted ones are read)

    def __iter__(self) -> Iterator[Document]:
        kind = self.shard.kind
        if kind == "broken":
            self.records += 1
            self.quarantined.append(Quarantine(self.shard.path, None, f"cannot read file: {self.shard.error}"))
            return
        yield from {"jsonl": self._jsonl, "parquet": self._table, "arrow": self._table, "txt": self._txt}[kind]()

    def _quarantine(self, line: int | None, error: str) -> None:
        self.quarantined.append(Quarantine(self.shard.path, line, error))

    def _record(self, obj: object, line: int) -> Document | None:
        """Validate one parsed record; quarantine it and return None if it is unusable."""
        field = self.text_field
        if not isinstance(obj, dict):
            self._quarantine(line, f"expected a JSON object, got {type(obj).__name__}")
            return None
        if field not in obj or obj[field] is None:
            fields = [k for k in (self._columns or obj) if k != field]
            self.fields_seen.update(fields)
            self._quarantine(line, f"missing text field {field!r} (fields: {', '.join(map(str, fields[:10])) or 'none'})")
            return None
        text = obj[field]
        if not isinstance(text, str):
            self._quarantine(line, f"text field {field!r} is {type(text).__name__}, not a string")
            return None
        raw_id = obj.get(self.id_field)
        doc_id = str(raw_id) if raw_id not in (None, "") else f"{self.shard.id_prefix}:{line}"
        source = obj.get(self.source_field) if self.source_field else None
        meta = {"line": line, **{k: obj[k] for k in self.carry if obj.get(k) is not None}}
        return Document(doc_id, text, source if isinstance(source, str) else self.shard.path, meta)

    def _jsonl(self) -> Iterator[Document]:
        shard, line = self.shard, self.shard.start
        try:
            with _open_lines(shard.path) as handle:
                if shard.offset:
                    handle.seek(shard.offset)
                else:
                    for _ in range(shard.start):
                        handle.readline()
                for _ in range(shard.count):
                    raw = handle.readline()
                    line += 1
                    if not raw:
                        break
                    if line == 1 and raw.startswith(b"\xef\xbb\xbf"):    # a UTF-8 BOM is not part of the record
                        raw = raw[3:]
                    if not raw.strip():
                        self.blank_lines += 1
                        continue
                    self.records += 1
                    text, repaired = _decode(raw)
                    try:
                        obj = json.loads(text)
                    except json.JSONDecodeError as exc:
                        self._quarantine(line, f"invalid JSON at column {exc.colno}: {exc.msg}")
                        continue
                    except (ValueError, RecursionError) as exc:   # 5,000-digit numbers, deep nesting
                        self._quarantine(line, f"invalid JSON: {type(exc).__name__}: {str(exc)[:200]}")
                        continue
                    doc = self._record(obj, line)
                    if doc is not None:
                        doc.meta["utf8_repaired"] = repaired
                        yield doc
        except (OSError, EOFError, zstandard.ZstdError) as exc:
            self.records += 1
            self._quarantine(line + 1, f"corrupt or truncated file, rest of it skipped: {exc}")

    def _table(self) -> Iterator[Document]:
        """Rows [start, start + count) of a parquet or arrow file; a row number is reported as the line."""
        shard = self.shard
        try:
            wanted = (self.text_field, self.id_field, *self.carry, *([self.source_field] if self.source_field else []))
            self._columns = _table_columns(shard.path, shard.kind)
            row = 0
            for batch in _table_batches(shard.path, shard.kind, list(dict.fromkeys(wanted))):
                end = row + batch.num_rows
                if end > shard.start and row < shard.start + shard.count:
                    lo, hi = max(shard.start - row, 0), min(shard.start + shard.count - row, batch.num_rows)
                    for i, obj in enumerate(batch.slice(lo, hi - lo).to_pylist()):
                        self.records += 1
                        doc = self._record(obj, row + lo + i + 1)
                        if doc is not None:
                            yield doc
                row = end
                if row >= shard.start + shard.count:
                    break
        except (OSError, ValueError) as exc:
            self.records += 1
            self._quarantine(None, f"cannot read {shard.kind} file: {exc}")

    def _txt(self) -> Iterator[Document]:
        for path, prefix in zip(self.shard.files, self.shard.prefixes):
            self.records += 1
            try:
                raw = Path(path).read_bytes()
            except OSError as exc:
                self.quarantined.append(Quarantine(path, None, f"cannot read file: {exc}"))
                continue
            text, repaired = _decode(raw)
            yield Document(prefix, text, path, {"line": 0, "utf8_repaired": repaired})


def iter_documents(inputs: list[str] | tuple[str, ...], text_field: str = "text", id_field: str = "id",
                   carry: tuple[str, ...] = ("lang",), source_field: str | None = "source",
                   skipped: list[Quarantine] | None = None) -> Iterator[Document]:
    """Every document of the inputs (files, directories or globs) in path order.

    The first record `dataprep run` would quarantine raises InputError (tokenizer and packing
    input is expected to be clean), unless the caller passes a `skipped` list to collect them in.
    """
    try:
        shards = plan_shards([str(i) for i in inputs], shard_size=1 << 62)
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    if not shards:
        raise InputError(f"{', '.join(map(str, inputs))}: no input files found (use {', '.join(SUPPORTED)})")
    for shard in shards:
        reader = ShardReader(shard, text_field, id_field, carry, source_field)
        for doc in reader:
            _check_quarantined(reader, skipped)
            yield doc
        _check_quarantined(reader, skipped)


def _check_quarantined(reader: ShardReader, skipped: list[Quarantine] | None) -> None:
    if reader.quarantined and skipped is not None:
        skipped += reader.quarantined
        reader.quarantined.clear()
    elif reader.quarantined:
        q = reader.quarantined[0]
        raise InputError(f"{q.file}:{q.line}: {q.error}" if q.line is not None else f"{q.file}: {q.error}")
