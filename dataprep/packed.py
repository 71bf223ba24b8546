"""Packed token corpus: the binary format the trainer reads, its writer and its memory-mapped reader.

Layout of a packed directory::

    <packed>/manifest.json              what is there, with checksums (see `write_manifest`)
    <packed>/<split>/<shard>.bin        token ids of every document of the shard, back to back,
                                        native little-endian uint16 (vocab <= 65535) or uint32
    <packed>/<split>/<shard>.idx        32-byte header + int64 token offsets (num_documents + 1)

`.idx` header (little-endian): magic b"ZHPACK\\x00\\x01" (8 bytes), format version uint32,
token itemsize uint32 (2 or 4), num_documents uint64, num_tokens uint64. Then the
`num_documents + 1` cumulative token offsets as int64, starting at 0 and ending at num_tokens.
Why this layout: one offsets array gives O(1) random access to document i (tokens
offsets[i]:offsets[i+1]) straight from a memory map, int64 never overflows however big a shard
grows, and the header lets a reader detect truncation of either file from sizes alone
(idx size = 32 + 8 * (n + 1), bin size = num_tokens * itemsize) before it reads anything.
Documents carry no end-of-sequence token on disk; `TrainingSamples` inserts `eos_id` between
documents, so the same packed corpus serves any separator policy.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import os
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable

import numpy as np

from common.atomic import atomic_write, fsync_dir, sha256_file, tmp_path_for, write_json

MAGIC = b"ZHPACK\x00\x01"
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sIIQQ")          # magic, version, itemsize, num_documents, num_tokens
MANIFEST = "manifest.json"
SPLITS = ("train", "validation")
GROUPS = ("source", "lang", "domain")      # the manifest counts documents, tokens, characters per value of each


class PackedFormatError(ValueError):
    """A packed file is missing, truncated or fails its checksum; the message names the shard."""


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """Smallest unsigned dtype that holds every id: halves disk and page cache for vocabs <= 65535."""
    return np.dtype(np.uint16) if vocab_size <= 65535 else np.dtype(np.uint32)


def split_of(doc_id: str, validation_ratio: float) -> str:
    """Deterministic split from a hash of the document id alone (not of shard order or worker count)."""
    digest = hashlib.sha256(doc_id.encode("utf-8")).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2.0**64
    return "validation" if fraction < validation_ratio else "train"


@dataclass
class ShardInfo:
    """What the manifest records about one written shard."""

    name: str
    split: str
    num_documents: int
    num_tokens: int
    bin_sha256: str
    idx_sha256: str
    # {value: {"documents", "tokens", "characters"}} per source file, language and domain of the documents
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    by_lang: dict[str, dict[str, int]] = field(default_factory=dict)
    by_domain: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def bin_path(self) -> str:
        return f"{self.split}/{self.name}.bin"

    @property
    def idx_path(self) -> str:
        return f"{self.split}/{self.name}.idx"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "bin": self.bin_path, "idx": self.idx_path}


class ShardWriter:
    """Streams documents of one shard to `<dir>/<split>/<name>.bin/.idx`, atomically.

    Tokens go to a temp file as they arrive (hashed on the way, so no second read);
    `finish()` writes the index and renames both files into place. Until then a reader sees nothing.
    """

    def __init__(self, directory: str | Path, split: str, name: str, dtype: np.dtype):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.uint16), np.dtype(np.uint32)):
            raise ValueError(f"packed dtype must be uint16 or uint32, got {self.dtype}")
        self.split, self.name = split, name
        self.bin_path = Path(directory) / split / f"{name}.bin"
        self.idx_path = Path(directory) / split / f"{name}.idx"
        self.bin_path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = tmp_path_for(self.bin_path)
        self._handle: BinaryIO | None = open(self._tmp, "wb")
        self._hash = hashlib.sha256()
        self._offsets = [0]
        self._groups: dict[str, dict[str, dict[str, int]]] = {key: {} for key in GROUPS}
        self._limit = np.iinfo(self.dtype).max

    def add(self, tokens: Iterable[int] | np.ndarray, source: str = "", lang: str = "", domain: str = "",
            characters: int = 0) -> None:
        """Append one document; source, lang, domain and its characters feed the manifest's counts."""
        ids = np.asarray(tokens, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() > self._limit):
            raise ValueError(f"shard {self.name}: token id out of range for {self.dtype}")
        data = ids.astype(self.dtype).astype(self.dtype.newbyteorder("<")).tobytes()
        assert self._handle is not None, "add() after finish()"
        self._handle.write(data)
        self._hash.update(data)
        self._offsets.append(self._offsets[-1] + int(ids.size))
        for key, value in zip(GROUPS, (source, lang, domain)):
            add_counts(self._groups[key], str(value), {"documents": 1, "tokens": int(ids.size), "characters": characters})

    def finish(self) -> ShardInfo:
        assert self._handle is not None, "finish() called twice"
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        offsets = np.asarray(self._offsets, dtype="<i8")
        header = HEADER.pack(MAGIC, FORMAT_VERSION, self.dtype.itemsize, len(offsets) - 1, int(offsets[-1]))
        index = header + offsets.tobytes()
        with atomic_write(self.idx_path, "wb") as handle:
            handle.write(index)
        os.replace(self._tmp, self.bin_path)
        fsync_dir(self.bin_path.parent)
        return ShardInfo(
            name=self.name, split=self.split, num_documents=len(offsets) - 1, num_tokens=int(offsets[-1]),
            bin_sha256=self._hash.hexdigest(), idx_sha256=hashlib.sha256(index).hexdigest(),
            **{f"by_{key}": dict(sorted(values.items())) for key, values in self._groups.items()})

    def abort(self) -> None:
        """Drop a half-written shard (e.g. after an exception) so no temp file is left."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._tmp.unlink(missing_ok=True)


def add_counts(table: dict[str, dict[str, int]], value: str, counts: dict[str, int]) -> None:
    """Add `counts` ({"documents": 1, "tokens": n, ...}) to the entry of `value` in a by_* table."""
    entry = table.setdefault(value, {})
    for k, n in counts.items():
        entry[k] = entry.get(k, 0) + n


def write_manifest(directory: str | Path, shards: list[ShardInfo], *, dtype: np.dtype, vocab_size: int,
                   eos_id: int, tokenizer_sha256: str, validation_ratio: float,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write `<packed>/manifest.json`: per-shard and per-split token counts (also per source, language
    and domain: `by_source`, `by_lang`, `by_domain`), checksums, dtype, eos, split ratio."""
    splits: dict[str, Any] = {}
    for split in SPLITS:
        chosen = sorted((s for s in shards if s.split == split), key=lambda s: s.name)
        groups: dict[str, dict[str, dict[str, int]]] = {key: {} for key in GROUPS}
        for shard in chosen:
            for key in GROUPS:
                for value, counts in getattr(shard, f"by_{key}").items():
                    add_counts(groups[key], value, counts)
        splits[split] = {
            "num_documents": sum(s.num_documents for s in chosen),
            "num_tokens": sum(s.num_tokens for s in chosen),
            **{f"by_{key}": dict(sorted(values.items())) for key, values in groups.items()},
            "shards": [s.to_json() for s in chosen],
        }
    manifest = {
        "format": "zhen-packed", "version": FORMAT_VERSION, "dtype": np.dtype(dtype).name,
        "vocab_size": vocab_size, "eos_id": eos_id, "tokenizer_sha256": tokenizer_sha256,
        "split": {"validation_ratio": validation_ratio,
                  "rule": "validation iff int(sha256(id)[:8]) / 2**64 < validation_ratio"},
        "splits": splits, **(extra or {}),
    }
    write_json(Path(directory) / MANIFEST, manifest)
    return manifest


def read_manifest(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise PackedFormatError(f"{path}: no manifest; is {directory} a packed directory (run `dataprep pack`)?")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PackedFormatError(f"{path}: manifest is not valid JSON ({exc})") from None
    if manifest.get("format") != "zhen-packed" or manifest.get("version") != FORMAT_VERSION:
        raise PackedFormatError(f"{path}: not a zhen-packed v{FORMAT_VERSION} manifest")
    return manifest


class _Shard:
    """One memory-mapped shard, checked against its manifest entry."""

    def __init__(self, root: Path, entry: dict[str, Any], dtype: np.dtype, verify: bool):
        self.name = f"{entry['split']}/{entry['name']}"
        bin_path, idx_path = root / entry["bin"], root / entry["idx"]
        for path in (bin_path, idx_path):
            if not path.is_file():
                raise PackedFormatError(f"shard {self.name}: missing file {path}")
        idx_size = idx_path.stat().st_size
        if idx_size < HEADER.size:
            raise PackedFormatError(f"shard {self.name}: {idx_path} is truncated ({idx_size} bytes)")
        with open(idx_path, "rb") as handle:
            magic, version, itemsize, n_docs, n_tokens = HEADER.unpack(handle.read(HEADER.size))
        if magic != MAGIC or version != FORMAT_VERSION:
            raise PackedFormatError(f"shard {self.name}: {idx_path} is not a zhen-packed v{FORMAT_VERSION} index")
        if itemsize != dtype.itemsize:
            raise PackedFormatError(f"shard {self.name}: itemsize {itemsize} but manifest dtype is {dtype}")
        if (n_docs, n_tokens) != (entry["num_documents"], entry["num_tokens"]):
            raise PackedFormatError(f"shard {self.name}: index holds {n_docs} docs / {n_tokens} tokens, "
                                    f"manifest says {entry['num_documents']} / {entry['num_tokens']}")
        if idx_size != HEADER.size + 8 * (n_docs + 1):
            raise PackedFormatError(f"shard {self.name}: {idx_path} is truncated or padded "
                                    f"({idx_size} bytes, expected {HEADER.size + 8 * (n_docs + 1)})")
        bin_size = bin_path.stat().st_size
        if bin_size != n_tokens * itemsize:
            raise PackedFormatError(f"shard {self.name}: {bin_path} is truncated or padded "
                                    f"({bin_size} bytes, expected {n_tokens * itemsize})")
        if verify:
            for path, key in ((bin_path, "bin_sha256"), (idx_path, "idx_sha256")):
                if sha256_file(path) != entry[key]:
                    raise PackedFormatError(f"shard {self.name}: checksum mismatch in {path} "
                                            f"(corrupted; re-run `dataprep pack` for this shard)")
        self.offsets = np.memmap(idx_path, dtype="<i8", mode="r", offset=HEADER.size, shape=(n_docs + 1,))
        if verify and n_docs and (self.offsets[0] != 0 or np.any(np.diff(self.offsets) < 0)):
            raise PackedFormatError(f"shard {self.name}: offsets in {idx_path} are not increasing from 0")
        self.tokens = (np.memmap(bin_path, dtype=dtype.newbyteorder("<"), mode="r") if n_tokens
                       else np.zeros(0, dtype=dtype))
        self.num_documents, self.num_tokens = int(n_docs), int(n_tokens)


class PackedCorpus:
    """One split of a packed directory, documents addressable by global index across shards."""

    def __init__(self, directory: str | Path, split: str = "train", verify: bool = True):
        root = Path(directory)
        manifest = read_manifest(root)
        if split not in manifest["splits"]:
            raise PackedFormatError(f"{root / MANIFEST}: no split {split!r} (have {list(manifest['splits'])})")
        self.manifest = manifest
        self.split = split
        self.dtype = np.dtype(manifest["dtype"])
        self.vocab_size = int(manifest["vocab_size"])
        self.eos_id = int(manifest["eos_id"])
        self.shards = [_Shard(root, entry, self.dtype, verify) for entry in manifest["splits"][split]["shards"]]
        # first global document index / token index of each shard (+ total at the end)
        self.doc_starts = np.cumsum([0] + [s.num_documents for s in self.shards], dtype=np.int64)
        self.token_starts = np.cumsum([0] + [s.num_tokens for s in self.shards], dtype=np.int64)
        self.num_documents = int(self.doc_starts[-1])
        self.num_tokens = int(self.token_starts[-1])

    def __len__(self) -> int:
        return self.num_documents

    def locate(self, i: int) -> tuple[int, int]:
        """Global document index -> (shard number, document number inside the shard)."""
        if not 0 <= i < self.num_documents:
            raise IndexError(f"document {i} out of range (split {self.split} has {self.num_documents})")
        shard = int(np.searchsorted(self.doc_starts, i, side="right")) - 1
        return shard, i - int(self.doc_starts[shard])

    def document(self, i: int) -> np.ndarray:
        """Token ids of document i (without eos), a read-only view into the memory map."""
        shard_no, j = self.locate(i)
        shard = self.shards[shard_no]
        return shard.tokens[shard.offsets[j]:shard.offsets[j + 1]]


class TrainingSamples:
    """Fixed-length samples over the stream doc0 </s> doc1 </s> ... (every document followed by eos).

    Sample i is stream[i*seq_len : i*seq_len + seq_len + 1]: inputs plus the labels shifted by one,
    as in Megatron; consecutive samples share one boundary token and the tail that cannot fill a
    sample is dropped. Nothing is materialised: each lookup bisects the offsets in the memory maps.
    """

    def __init__(self, corpus: PackedCorpus, seq_len: int):
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        self.corpus, self.seq_len = corpus, seq_len
        # each shard's stream length = its tokens + one eos per document
        lengths = [s.num_tokens + s.num_documents for s in corpus.shards]
        self.stream_starts = np.cumsum([0] + lengths, dtype=np.int64)
        self.stream_length = int(self.stream_starts[-1])
        self.num_samples = max(0, (self.stream_length - 1) // seq_len)

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self.num_samples:
            raise IndexError(f"sample {i} out of range ({self.num_samples} samples of seq_len {self.seq_len})")
        out = np.empty(self.seq_len + 1, dtype=np.int64)
        pos, filled = i * self.seq_len, 0
        shard_no = int(np.searchsorted(self.stream_starts, pos, side="right")) - 1
        shard = self.corpus.shards[shard_no]
        local = pos - int(self.stream_starts[shard_no])
        # document j starts at stream position offsets[j] + j inside its shard (j eos tokens before it)
        doc = bisect.bisect_right(range(shard.num_documents), local, key=lambda j: int(shard.offsets[j]) + j) - 1
        while filled < len(out):
            start, end = int(shard.offsets[doc]), int(shard.offsets[doc + 1])
            within = local - (start + doc)            # position inside "doc tokens + eos"
            take = min(end - start - within, len(out) - filled)
            if take > 0:
                out[filled:filled + take] = shard.tokens[start + within:start + within + take]
                filled += take
                local += take
            if filled < len(out):                     # at the eos after this document
                out[filled] = self.corpus.eos_id
                filled += 1
                local += 1
                doc += 1
                if doc == shard.num_documents and filled < len(out):
                    shard_no += 1
                    while self.corpus.shards[shard_no].num_documents == 0:
                        shard_no += 1
                    shard, doc, local = self.corpus.shards[shard_no], 0, 0
        return out


def sample_order(num_samples: int, seed: int, epoch: int) -> np.ndarray:
    """Shuffled sample ids for one epoch; depends only on (seed, epoch), never on the number of ranks.

    Global batch b of size G takes order[b*G:(b+1)*G]; each rank then takes its slice of that batch,
    so resuming at batch b on any world size replays exactly the same samples.
    """
    if num_samples < 0 or seed < 0 or epoch < 0:
        raise ValueError("num_samples, seed and epoch must be >= 0")
    return np.random.default_rng([seed, epoch]).permutation(num_samples).astype(np.int64)
