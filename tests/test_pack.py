"""Packing: parallel tokenization into the packed format, resume, corrupt input, count."""
from __future__ import annotations

import json
from collections import Counter

import pytest
import sentencepiece as spm

from dataprep.cli import main
from dataprep.pack import MARKERS, PackConfig, PackError, count_tokens, pack
from dataprep.packed import PackedCorpus, TrainingSamples, split_of
from tests.tokenizer_corpus import sample_documents, tiny_tokenizer, write_clean_shards


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    rows = [{**row, "domain": "books" if row["lang"] == "zh" else "web"} for row in sample_documents(zh=60, en=30)]
    rows.append({"id": "empty", "text": "", "source": "synthetic", "lang": "en", "domain": "web"})
    model = tiny_tokenizer(root, rows, jieba_fraction=0.0)
    shards = write_clean_shards(root / "shards", rows, 3)
    return {"root": root, "rows": rows, "model": str(model), "shards": shards}


def _config(corpus, output, **kw):
    return PackConfig(inputs=[str(p) for p in corpus["shards"]], tokenizer=corpus["model"], output=str(output),
                      validation_ratio=0.2, **kw)


def test_pack_round_trips_every_document(corpus, tmp_path):
    manifest = pack(_config(corpus, tmp_path / "packed", num_workers=2), log=lambda _: None)
    sp = spm.SentencePieceProcessor(model_file=corpus["model"])
    assert manifest["eos_id"] == 2 and manifest["dtype"] == "uint16" and manifest["vocab_size"] == 3000
    assert manifest["empty_documents_skipped"] == 1
    decoded = {}
    for split in ("train", "validation"):
        data = PackedCorpus(tmp_path / "packed", split)
        assert [s["name"] for s in manifest["splits"][split]["shards"]] == ["part-00000", "part-00001", "part-00002"]
        decoded[split] = {sp.decode(data.document(i).tolist()) for i in range(data.num_documents)}
    texts = [r for r in corpus["rows"] if r["text"]]
    for split in ("train", "validation"):
        assert decoded[split] == {r["text"] for r in texts if split_of(r["id"], 0.2) == split}
    assert 0 < len(decoded["validation"]) < len(decoded["train"])
    train = manifest["splits"]["train"]
    assert train["num_tokens"] == PackedCorpus(tmp_path / "packed").num_tokens
    assert set(train["by_source"]) == {"fortunes-zh", "fortunes"}
    for split, info in manifest["splits"].items():      # per source, language and domain, from the clean columns
        mine = [r for r in texts if split_of(r["id"], 0.2) == split]
        for key in ("source", "lang", "domain"):
            assert sum(c["tokens"] for c in info[f"by_{key}"].values()) == info["num_tokens"], (split, key)
            assert sum(c["characters"] for c in info[f"by_{key}"].values()) == manifest["characters"][split]
            assert {v: c["documents"] for v, c in info[f"by_{key}"].items()} == dict(Counter(r[key] for r in mine))
        zh = [r["text"] for r in mine if r["lang"] == "zh"]
        assert info["by_lang"]["zh"] == info["by_domain"]["books"] == {
            "documents": len(zh), "tokens": sum(len(sp.encode(t)) for t in zh), "characters": sum(map(len, zh))}
    assert not (tmp_path / "packed" / "wandb").exists() and not (tmp_path / "packed" / "wandb_run_id").exists()
    assert len(TrainingSamples(PackedCorpus(tmp_path / "packed"), 64)) == (train["num_tokens"] + train["num_documents"] - 1) // 64


def test_rerun_skips_finished_shards_and_redoes_missing_ones(corpus, tmp_path):
    out = tmp_path / "packed"
    first = pack(_config(corpus, out, num_workers=1), log=lambda _: None)
    (out / MARKERS / "part-00001.json").unlink()                 # as if killed before the marker
    (out / "train" / ".part-00001.bin.tmp-999").write_bytes(b"half")
    logs = []
    second = pack(_config(corpus, out, num_workers=1), log=logs.append)
    assert "3 shards, 2 already done, 1 to do" in logs[0]
    assert logs[1:] == ["pack: shard part-00001 done"]
    assert second["splits"] == first["splits"]
    assert not list(out.rglob(".*.tmp-*"))
    third_logs = []
    pack(_config(corpus, out, num_workers=1), log=third_logs.append)
    assert "3 already done, 0 to do" in third_logs[0]
    damaged = out / "train" / "part-00002.bin"
    damaged.write_bytes(damaged.read_bytes()[:-4])                  # truncated after it was finished
    fourth_logs = []
    pack(_config(corpus, out, num_workers=1), log=fourth_logs.append)
    assert fourth_logs[1:] == ["pack: shard part-00002 done"]
    assert PackedCorpus(out, verify=True).num_tokens == first["splits"]["train"]["num_tokens"]


def test_corrupt_input_shard_is_named_and_others_finish(corpus, tmp_path):
    shards = write_clean_shards(tmp_path / "in", corpus["rows"], 3)
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[: len(data) // 2])                 # truncated parquet
    config = PackConfig(inputs=[str(tmp_path / "in")], tokenizer=corpus["model"], output=str(tmp_path / "out"))
    with pytest.raises(PackError, match=r"shard part-00001: .*part-00001\.parquet.*2 of 3 shards packed"):
        pack(config, log=lambda _: None)
    assert sorted(p.name for p in (tmp_path / "out" / MARKERS).iterdir()) == ["part-00000.json", "part-00002.json"]
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert not list((tmp_path / "out").rglob(".*.tmp-*"))
    write_clean_shards(tmp_path / "in", corpus["rows"], 3)           # fixed: the rerun completes
    assert pack(config, log=lambda _: None)["splits"]["train"]["num_documents"] > 0


def test_count_text_files_and_packed_dir(corpus, tmp_path, capsys):
    rows = corpus["rows"][:20]
    (tmp_path / "a.txt").write_text("\n".join(r["text"].replace("\n", " ") for r in rows) + "\n", encoding="utf-8")
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": r["text"]}, ensure_ascii=False) + "\n"
                                              for r in rows), encoding="utf-8")
    write_clean_shards(tmp_path / "pq", rows, 1)
    sp = spm.SentencePieceProcessor(model_file=corpus["model"])
    expected = sum(len(sp.encode(r["text"])) for r in rows)
    for path in ("a.jsonl", "pq"):
        result = count_tokens([str(tmp_path / path)], corpus["model"])
        assert result["documents"] == 20 and result["tokens"] == expected
        assert result["characters"] == sum(len(r["text"]) for r in rows)
    assert count_tokens([str(tmp_path / "a.txt")], corpus["model"])["documents"] == 1    # a .txt file is one document, as in `dataprep run`
    pack(_config(corpus, tmp_path / "packed"), log=lambda _: None)
    assert main(["count", str(tmp_path / "packed")]) == 0
    counted = json.loads(capsys.readouterr().out)
    assert counted["train"]["tokens"] == PackedCorpus(tmp_path / "packed").num_tokens
    assert sum(c["tokens"] for c in counted["train"]["by_lang"].values()) == counted["train"]["tokens"]
    assert set(counted["validation"]["by_domain"]) == {"books", "web"}
    assert counted["train"]["chars_per_token"] > 1
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{broken\n', encoding="utf-8")
    assert main(["count", "--tokenizer", corpus["model"], str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl:2: invalid JSON at column 2" in capsys.readouterr().err


def test_pack_cli(corpus, tmp_path, capsys):
    code = main(["pack", "--tokenizer", corpus["model"], "--output", str(tmp_path / "p"),
                 "--input", str(corpus["shards"][0]), "num_workers=1", "validation_ratio=0.5"])
    assert code == 0
    assert "manifest:" in capsys.readouterr().out
    assert json.loads((tmp_path / "p" / "manifest.json").read_text())["split"]["validation_ratio"] == 0.5
    assert main(["pack", "--tokenizer", str(tmp_path / "none.model"), "--output", str(tmp_path / "q"),
                 "--input", str(corpus["shards"][0])]) == 2
    assert "none.model: no tokenizer.model there" in capsys.readouterr().err
