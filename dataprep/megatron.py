"""A packed directory converted to Megatron-Core's indexed dataset format (what Megatron-LM and GPT-NeoX read).

`dataprep export-megatron <packed> -o <out>` writes, for every non-empty packed shard,
`<out>/<split>/<shard>.bin` and `.idx`, and `<out>/manifest.json` with their checksums. The
path prefix `<out>/<split>/<shard>` is what Megatron's `--data-path` (or `--train-data-path`) takes;
the manifest lists them with their token counts as weights.

`.idx` layout (little-endian), as `megatron.core.datasets.indexed_dataset._IndexWriter` writes it:
magic b"MMIDIDX\\x00\\x00" (9 bytes), version uint64 = 1, dtype code uint8 (8 = uint16, 4 = int32),
sequence count uint64, document count uint64 (= sequences + 1), then int32 sequence lengths,
int64 byte pointers of each sequence into the .bin, and int64 document indices (0, 1, ..., n:
one sequence per document, as Megatron's `preprocess_data.py` writes for GPT data).

Why a converter rather than our own format: our `.idx` keeps one int64 offset array and no
separators; Megatron's GPTDataset concatenates documents as stored, so the end-of-document token
must be in the `.bin`. `append_eod` (default) appends `eos_id` to every document, the stream our
`TrainingSamples` builds; without it the tokens are copied as they are. Token ids that fit in
uint16 stay uint16; larger vocabularies are written as int32 (Megatron has no uint32 code).
Empty shards are left out: Megatron memory-maps the .bin, and an empty file cannot be mapped.
"""
from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common.atomic import atomic_write, sha256_file, tmp_path_for, write_json
from dataprep.packed import MANIFEST, SPLITS, PackedCorpus, read_manifest

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}
BLOCK_TOKENS = 1 << 24               # tokens converted at once: bounded memory whatever the shard size


def target_dtype(source: np.dtype, vocab_size: int) -> np.dtype:
    """uint16 when our shards are uint16, else int32 (Megatron's wide code; uint32 has none)."""
    if np.dtype(source) == np.uint16:
        return np.dtype(np.uint16)
    if vocab_size > np.iinfo(np.int32).max:
        raise ValueError(f"vocab_size {vocab_size} does not fit Megatron's int32 token dtype")
    return np.dtype(np.int32)


def index_bytes(lengths: np.ndarray, dtype: np.dtype) -> bytes:
    """The .idx file of one sequence per document with these token counts."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size and lengths.max() > np.iinfo(np.int32).max:
        raise ValueError("a document longer than 2^31 tokens does not fit Megatron's int32 sequence lengths")
    pointers = np.zeros(len(lengths), dtype="<i8")
    np.cumsum(lengths[:-1] * dtype.itemsize, out=pointers[1:])
    header = MAGIC + struct.pack("<QBQQ", VERSION, DTYPE_CODES[dtype], len(lengths), len(lengths) + 1)
    return (header + lengths.astype("<i4").tobytes() + pointers.tobytes()
            + np.arange(len(lengths) + 1, dtype="<i8").tobytes())


def _write_bin(path: Path, tokens: np.ndarray, offsets: np.ndarray, dtype: np.dtype,
               eod: int | None) -> str:
    """Documents back to back (each followed by `eod` when given), block by block; returns the sha256."""
    digest = hashlib.sha256()
    tmp = tmp_path_for(path)
    out_dtype = dtype.newbyteorder("<")
    with open(tmp, "wb") as handle:
        first = 0
        while first < len(offsets) - 1:
            # documents [first, last) make one block of about BLOCK_TOKENS tokens (at least one document)
            last = max(first + 1, int(np.searchsorted(offsets, offsets[first] + BLOCK_TOKENS, side="right")) - 1)
            last = min(last, len(offsets) - 1)
            lo, hi = int(offsets[first]), int(offsets[last])
            block = np.asarray(tokens[lo:hi]).astype(out_dtype)
            if eod is not None:
                block = np.insert(block, offsets[first + 1:last + 1] - lo, eod).astype(out_dtype)
            data = block.tobytes()
            handle.write(data)
            digest.update(data)
            first = last
    tmp.replace(path)
    return digest.hexdigest()


def export_megatron(packed: str | Path, output: str | Path, append_eod: bool = True,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
    """Convert every split of a packed directory (checksums verified first); returns the new manifest."""
    packed, output = Path(packed), Path(output)
    source = read_manifest(packed)
    dtype = target_dtype(np.dtype(source["dtype"]), int(source["vocab_size"]))
    eod = int(source["eos_id"]) if append_eod else None
    splits: dict[str, Any] = {}
    for split in SPLITS:
        corpus = PackedCorpus(packed, split, verify=True)
        entries = []
        for shard, info in zip(corpus.shards, source["splits"][split]["shards"]):
            if shard.num_documents == 0:
                continue
            prefix = Path(split) / info["name"]
            (output / split).mkdir(parents=True, exist_ok=True)
            bin_sha = _write_bin(output / f"{prefix}.bin", shard.tokens, np.asarray(shard.offsets), dtype, eod)
            lengths = np.diff(np.asarray(shard.offsets)) + (1 if append_eod else 0)
            index = index_bytes(lengths, dtype)
            with atomic_write(output / f"{prefix}.idx", "wb") as handle:
                handle.write(index)
            entries.append({"prefix": prefix.as_posix(), "num_documents": shard.num_documents,
                            "num_tokens": int(lengths.sum()), "bin_sha256": bin_sha,
                            "idx_sha256": hashlib.sha256(index).hexdigest()})
            log(f"export-megatron: {prefix} ({shard.num_documents} documents)")
        splits[split] = {"num_documents": sum(e["num_documents"] for e in entries),
                         "num_tokens": sum(e["num_tokens"] for e in entries), "shards": entries,
                         # Megatron's --data-path: weight prefix pairs (token counts as weights)
                         "data_path": " ".join(f"{e['num_tokens']} {(output / e['prefix']).as_posix()}"
                                               for e in entries)}
    manifest = {"format": "megatron-indexed", "version": VERSION, "dtype": dtype.name,
                "append_eod": append_eod, "eos_id": source["eos_id"], "vocab_size": source["vocab_size"],
                "tokenizer_sha256": source["tokenizer_sha256"], "source": packed.as_posix(),
                "source_manifest_sha256": sha256_file(packed / MANIFEST), "splits": splits}
    write_json(output / MANIFEST, manifest)
    return manifest
