"""Packed format: round trip, sample stream, shuffling, split and corruption detection."""
from __future__ import annotations

import numpy as np
import pytest

from dataprep.packed import (PackedCorpus, PackedFormatError, ShardWriter, TrainingSamples, dtype_for_vocab,
                             sample_order, split_of, write_manifest)

EOS = 2


def _write(tmp_path, shards: dict[str, list[list[int]]], vocab_size: int = 1000, split: str = "train"):
    dtype = dtype_for_vocab(vocab_size)
    infos = []
    for name, docs in shards.items():
        writer = ShardWriter(tmp_path, split, name, dtype)
        for k, doc in enumerate(docs):
            writer.add(doc, source="zh" if k % 2 == 0 else "en")
        infos.append(writer.finish())
    write_manifest(tmp_path, infos, dtype=dtype, vocab_size=vocab_size, eos_id=EOS, tokenizer_sha256="0" * 64,
                   validation_ratio=0.1)
    return infos


def _random_docs(rng, n, vocab=1000):
    return [list(rng.integers(3, vocab, size=int(rng.integers(0, 12)))) for _ in range(n)]


def test_documents_round_trip_across_shards(tmp_path):
    rng = np.random.default_rng(0)
    shards = {"part-00000": _random_docs(rng, 7), "part-00001": [], "part-00002": _random_docs(rng, 5)}
    _write(tmp_path, shards)
    corpus = PackedCorpus(tmp_path)
    flat = [d for docs in shards.values() for d in docs]
    assert corpus.num_documents == len(flat)
    assert corpus.num_tokens == sum(len(d) for d in flat)
    assert corpus.dtype == np.uint16 and corpus.eos_id == EOS and corpus.vocab_size == 1000
    for i, doc in enumerate(flat):
        assert corpus.document(i).tolist() == doc
    with pytest.raises(IndexError):
        corpus.document(len(flat))
    manifest = corpus.manifest["splits"]["train"]
    assert {s: c["tokens"] for s, c in manifest["by_source"].items()} == {
        "zh": sum(len(d) for docs in shards.values() for d in docs[0::2]),
        "en": sum(len(d) for docs in shards.values() for d in docs[1::2])}


@pytest.mark.parametrize("seq_len", [1, 3, 8, 50])
def test_samples_tile_the_eos_joined_stream(tmp_path, seq_len):
    rng = np.random.default_rng(seq_len)
    shards = {"a": _random_docs(rng, 9), "b": [], "c": _random_docs(rng, 4), "d": [[5, 6]]}
    _write(tmp_path, shards)
    stream = [t for docs in shards.values() for d in docs for t in d + [EOS]]
    samples = TrainingSamples(PackedCorpus(tmp_path), seq_len)
    assert len(samples) == (len(stream) - 1) // seq_len
    for i in range(len(samples)):
        got = samples[i]
        assert got.dtype == np.int64 and len(got) == seq_len + 1
        assert got.tolist() == stream[i * seq_len:i * seq_len + seq_len + 1]
    with pytest.raises(IndexError):
        samples[len(samples)]


def test_uint32_for_large_vocab(tmp_path):
    _write(tmp_path, {"s": [[70000, 3, 131071]]}, vocab_size=131072)
    corpus = PackedCorpus(tmp_path)
    assert corpus.dtype == np.uint32
    assert corpus.document(0).tolist() == [70000, 3, 131071]
    assert (tmp_path / "train" / "s.bin").stat().st_size == 12


def test_writer_rejects_ids_outside_dtype(tmp_path):
    writer = ShardWriter(tmp_path, "train", "s", np.uint16)
    with pytest.raises(ValueError, match="out of range"):
        writer.add([70000])
    writer.abort()
    assert list((tmp_path / "train").iterdir()) == []


def test_sample_order_is_a_seeded_permutation():
    a = sample_order(1000, seed=7, epoch=0)
    assert sorted(a.tolist()) == list(range(1000))
    assert np.array_equal(a, sample_order(1000, seed=7, epoch=0))
    assert not np.array_equal(a, sample_order(1000, seed=7, epoch=1))
    assert not np.array_equal(a, sample_order(1000, seed=8, epoch=0))


def test_split_is_deterministic_and_near_ratio():
    ids = [f"doc-{i}" for i in range(20000)]
    chosen = [split_of(i, 0.05) for i in ids]
    assert chosen == [split_of(i, 0.05) for i in ids]
    share = chosen.count("validation") / len(ids)
    assert 0.04 < share < 0.06
    assert all(split_of(i, 0.0) == "train" for i in ids[:100])


def test_corruption_names_the_shard(tmp_path):
    _write(tmp_path, {"part-00000": [[5, 6, 7]], "part-00001": [[8, 9, 10, 11]]})
    path = tmp_path / "train" / "part-00001.bin"
    data = bytearray(path.read_bytes())
    data[2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(PackedFormatError, match="train/part-00001.*checksum"):
        PackedCorpus(tmp_path, verify=True)
    PackedCorpus(tmp_path, verify=False)          # same size: only the checksum can tell


def test_truncation_detected_even_without_verify(tmp_path):
    _write(tmp_path, {"part-00000": [[5, 6, 7]], "part-00001": [[8, 9, 10, 11]]})
    path = tmp_path / "train" / "part-00000.bin"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(PackedFormatError, match="train/part-00000.*truncated"):
        PackedCorpus(tmp_path, verify=False)
    idx = tmp_path / "train" / "part-00001.idx"
    idx.write_bytes(idx.read_bytes()[:10])
    (tmp_path / "train" / "part-00000.bin").unlink()
    with pytest.raises(PackedFormatError, match="part-00000.*missing"):
        PackedCorpus(tmp_path)


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(PackedFormatError, match="no manifest"):
        PackedCorpus(tmp_path)
