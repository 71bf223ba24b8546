"""Throughput of `dataprep pack` (tokenize + pack, 2 processes) vs HF `tokenizers` on the same text.

The input documents are re-sharded into --shards parquet files so the process pool has even work.
Measured:
  * pack:            dataprep.pack.pack with num_workers=2, end to end (read parquet, encode, write .bin/.idx,
                     checksums, manifest), fresh output directory;
  * sentencepiece:   SentencePieceProcessor.encode on all documents, 1 process (the per-worker ceiling);
  * hf tokenizers:   tokenizers.Tokenizer.encode_batch of the exported tokenizer.json, RAYON_NUM_THREADS=2,
                     encode only (no packing), ids checked equal to sentencepiece.

    OMP_NUM_THREADS=1 python benchmarks/bench_tokenize.py --input <clean dir> --tokenizer tokenizer.model
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "2")      # before tokenizers is imported

import sentencepiece as spm  # noqa: E402

from dataprep.pack import PackConfig, pack  # noqa: E402
from dataprep.tokenizer.hf_export import export_hf  # noqa: E402
from dataprep.reader import iter_documents  # noqa: E402


def reshard(texts: list[str], directory: Path, shards: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True)
    for k in range(shards):
        part = texts[k::shards]
        pq.write_table(pa.table({"id": [f"{k}-{i}" for i in range(len(part))], "text": part,
                                 "source": ["bench"] * len(part), "lang": [""] * len(part)}),
                       directory / f"part-{k:05d}.parquet")


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", action="append", required=True, help="text files/dirs (repeatable)")
    parser.add_argument("--tokenizer", required=True, help="sentencepiece .model")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1, help="concatenate the input this many times")
    args = parser.parse_args()

    texts = [d.text for d in iter_documents(args.input) if d.text] * args.repeat
    chars = sum(map(len, texts))
    print(f"{len(texts)} documents, {chars} characters, {sum(len(t.encode()) for t in texts) / 1e6:.1f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        reshard(texts, tmp / "clean", args.shards)
        manifest, pack_s = timed(lambda: pack(PackConfig(inputs=[str(tmp / "clean")], tokenizer=args.tokenizer,
                                                         output=str(tmp / "packed"), num_workers=2,
                                                         validation_ratio=0.0), log=lambda _: None))
        tokens = manifest["splits"]["train"]["num_tokens"]
        sp = spm.SentencePieceProcessor(model_file=args.tokenizer, num_threads=1)
        sp_ids, sp_s = timed(lambda: sp.encode(texts))
        export_hf(args.tokenizer, tmp / "hf")
        from tokenizers import Tokenizer

        hf = Tokenizer.from_file(str(tmp / "hf" / "tokenizer.json"))
        encodings, hf_s = timed(lambda: hf.encode_batch(texts, add_special_tokens=False))
        same = sum(e.ids == ids for e, ids in zip(encodings, sp_ids))
    assert tokens == sum(map(len, sp_ids))
    print(f"| method | seconds | tokens/s | chars/s |\n|---|---|---|---|")
    for name, seconds in (("dataprep pack, 2 processes (tokenize + pack)", pack_s),
                          ("sentencepiece encode, 1 process (tokenize only)", sp_s),
                          ("HF tokenizers encode_batch, 2 threads (tokenize only)", hf_s)):
        print(f"| {name} | {seconds:.2f} | {tokens / seconds:,.0f} | {chars / seconds:,.0f} |")
    print(f"tokens: {tokens}; HF ids identical to sentencepiece on {same}/{len(texts)} documents")


if __name__ == "__main__":
    main()
