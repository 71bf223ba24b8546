"""Our packed shards read back by Megatron-Core's own IndexedDataset after `dataprep export-megatron`."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dataprep.cli import main
from dataprep.megatron import MAGIC, export_megatron
from dataprep.packed import PackedCorpus, ShardWriter, write_manifest
from tests.tokenizer_corpus import sample_documents, tiny_tokenizer, write_clean_shards

indexed_dataset = pytest.importorskip(
    "megatron.core.datasets.indexed_dataset",
    reason="megatron-core is not installed (pip install -e .[dev] installs it; it imports without a GPU)")


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """A real corpus packed by `dataprep pack` with the tiny tokenizer (3 shards per split)."""
    root = tmp_path_factory.mktemp("megatron")
    rows = sample_documents(zh=40, en=20)
    model = tiny_tokenizer(root, rows, jieba_fraction=0.0)
    shards = write_clean_shards(root / "shards", rows, 3)
    out = root / "packed"
    assert main(["pack", "--tokenizer", str(model), "--output", str(out), *(f"--input={p}" for p in shards),
                 "validation_ratio=0.2", "num_workers=1"]) == 0
    return out


def megatron_documents(prefix):
    ds = indexed_dataset.IndexedDataset(str(prefix), multimodal=False, mmap=True)
    return ds, [ds[i].tolist() for i in range(len(ds))]


@pytest.mark.parametrize("append_eod", [True, False])
def test_megatron_reads_our_tokens_back_identically(packed, tmp_path, monkeypatch, append_eod):
    monkeypatch.setattr("dataprep.megatron.BLOCK_TOKENS", 50)      # many blocks per shard, as for a big corpus
    manifest = export_megatron(packed, tmp_path / "mg", append_eod=append_eod, log=lambda _: None)
    eos = manifest["eos_id"]
    for split in ("train", "validation"):
        corpus = PackedCorpus(packed, split)
        ours = [corpus.document(i).tolist() + ([eos] if append_eod else []) for i in range(len(corpus))]
        theirs = []
        for entry in manifest["splits"][split]["shards"]:
            ds, docs = megatron_documents(tmp_path / "mg" / entry["prefix"])
            assert ds.index.dtype == np.uint16 and len(ds) == entry["num_documents"]
            assert ds.document_indices.tolist() == list(range(len(ds) + 1))    # one sequence per document
            assert ds.sequence_lengths.tolist() == [len(d) for d in docs]
            theirs += docs
        assert theirs == ours and len(ours) > 0
        assert manifest["splits"][split]["num_tokens"] == sum(map(len, ours))


def test_cli_writes_manifest_with_checksums_and_data_path(packed, tmp_path, capsys):
    from common.atomic import sha256_file

    assert main(["export-megatron", str(packed), "--output", str(tmp_path / "mg")]) == 0
    manifest = json.loads((tmp_path / "mg" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "megatron-indexed" and manifest["append_eod"] is True
    entry = manifest["splits"]["train"]["shards"][0]
    for ext in ("bin", "idx"):
        assert sha256_file(tmp_path / "mg" / f"{entry['prefix']}.{ext}") == entry[f"{ext}_sha256"]
    assert (tmp_path / "mg" / f"{entry['prefix']}.idx").read_bytes()[:9] == MAGIC
    assert f"--data-path {entry['num_tokens']} {tmp_path / 'mg' / entry['prefix']}" in capsys.readouterr().out


def test_wide_vocabularies_become_int32_and_empty_shards_are_left_out(tmp_path):
    """uint32 shards (vocab > 65535) have no Megatron code: int32 holds every id; an empty shard cannot be mapped."""
    docs = [[70000, 1, 99999], [], [5]]
    writers = {split: ShardWriter(tmp_path / "p", split, "s", np.uint32) for split in ("train", "validation")}
    for doc in docs:
        writers["train"].add(doc)
    write_manifest(tmp_path / "p", [w.finish() for w in writers.values()], dtype=np.uint32, vocab_size=100_000,
                   eos_id=2, tokenizer_sha256="x", validation_ratio=0.0)
    manifest = export_megatron(tmp_path / "p", tmp_path / "mg", log=lambda _: None)
    assert manifest["dtype"] == "int32" and manifest["splits"]["validation"]["shards"] == []
    ds, got = megatron_documents(tmp_path / "mg" / "train" / "s")
    assert ds.index.dtype == np.int32 and got == [[70000, 1, 99999, 2], [2], [5, 2]]
