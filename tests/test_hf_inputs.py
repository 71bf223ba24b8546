"""Hugging Face-shaped corpora with a `content` column, read by every command; a wrong field fails loudly.

Three shapes a user brings: a `Dataset.save_to_disk` directory, a dataset in the local HF
datasets cache (given as `hf:NAME`), and Hub-style parquet (`data/train-00000-of-00001.parquet`).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataprep_corpus import real_texts

from dataprep.cli import main
from dataprep.reader import iter_documents
from tests.tokenizer_corpus import sample_documents, tiny_tokenizer

TEXTS = real_texts("fortunes-zh", 6) + real_texts("fortunes/", 6)
COLUMNS = {"content": TEXTS, "url": [f"https://example.org/{i}" for i in range(len(TEXTS))]}


def cache_dataset(cache: Path, name: str) -> None:
    """What `datasets.load_dataset(name)` leaves in the datasets cache: <cache>/<ns>___<name>/default/
    0.0.0/<hash>/{dataset_info.json, <name>-train.arrow}, prepared here from local parquet (no network)."""
    import datasets

    staging = cache / "staging"
    staging.mkdir(parents=True)
    pq.write_table(pa.table(COLUMNS), staging / "train.parquet")
    builder = datasets.load_dataset_builder("parquet", data_files={"train": str(staging / "train.parquet")},
                                            cache_dir=str(staging / "cache"))
    builder.download_and_prepare()
    source = Path(builder.cache_dir)
    target = cache / "___".join(name.split("/")) / "default" / source.parts[-2] / source.parts[-1]
    shutil.copytree(source, target)
    (target / "parquet-train.arrow").rename(target / f"{name.split('/')[-1]}-train.arrow")
    shutil.rmtree(staging)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    import datasets

    root = tmp_path_factory.mktemp("hf")
    datasets.Dataset.from_dict(COLUMNS).save_to_disk(str(root / "saved"))
    (root / "hub" / "data").mkdir(parents=True)
    pq.write_table(pa.table(COLUMNS), root / "hub" / "data" / "train-00000-of-00001.parquet")
    cache_dataset(root / "hf_cache", "someone/corpus")
    tokenizer = tiny_tokenizer(root / "tok", sample_documents(zh=60, en=30), jieba_fraction=0.0)
    return {"root": root, "saved": str(root / "saved"), "hub": str(root / "hub"), "cached": "hf:someone/corpus",
            "tokenizer": str(tokenizer.parent)}


@pytest.fixture
def hf_cache(inputs, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(inputs["root"] / "hf_cache"))


def test_a_cached_dataset_is_found_by_name_offline(inputs, hf_cache):
    docs = list(iter_documents([inputs["cached"]], text_field="content"))
    assert [d.text for d in docs] == TEXTS
    assert docs[0].id == "someone/corpus/corpus-train:1"
    with pytest.raises(Exception, match=r"hf:nobody/none: 'nobody/none' is not in the local Hugging Face datasets cache"):
        list(iter_documents(["hf:nobody/none"]))
    with pytest.raises(Exception, match=r"no split 'test' \(has: train\)"):
        list(iter_documents(["hf:someone/corpus:test"]))


@pytest.mark.parametrize("kind", ["saved", "hub", "cached"])
def test_every_command_reads_it(inputs, hf_cache, kind, tmp_path, capsys):
    source, tok = inputs[kind], inputs["tokenizer"]
    assert main(["count", "--tokenizer", tok, "--text-field", "content", source]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == len(TEXTS)
    assert main(["tokenizer", "eval", "--tokenizer", tok, "--input", source, "--text-field", "content"]) == 0
    assert main(["pack", "--tokenizer", tok, "--input", source, "-o", str(tmp_path / "packed"),
                 "text_field=content", "num_workers=1", "validation_ratio=0"]) == 0
    manifest = json.loads((tmp_path / "packed" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["splits"]["train"]["num_documents"] == len(TEXTS)
    steps = ["normalize", "exact_dedup"]
    assert main(["run", f"inputs=[{source}]", "text_field=content", f"steps={steps}", "num_workers=1",
                 "-o", str(tmp_path / "run")]) == 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["docs_in"] == manifest["kept"] == len(TEXTS)
    capsys.readouterr()


@pytest.mark.parametrize("kind", ["saved", "hub", "cached"])
def test_a_wrong_text_field_fails_and_names_the_fields_seen(inputs, hf_cache, kind, tmp_path, capsys):
    source = inputs[kind]
    assert main(["run", f"inputs=[{source}]", "num_workers=1", "-o", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "every one of the 12 input records was quarantined: no record had the text field 'text' " \
           "(fields seen: content, url): set text_field" in err
    assert not (tmp_path / "run" / "manifest.json").exists()
    assert main(["count", "--tokenizer", inputs["tokenizer"], source]) == 2
    assert "missing text field 'text' (fields: content, url)" in capsys.readouterr().err
