"""The one reader (dataprep/reader.py): every command sees the same documents in the same formats."""
from __future__ import annotations

import pytest
from dataprep_corpus import mixed_corpus, write_jsonl

from dataprep.reader import InputError, ShardReader, iter_documents, plan_shards


def shard_docs(inputs):
    return [d for s in plan_shards([str(inputs)], 1000) for d in ShardReader(s, "text", "id")]


def test_commands_and_the_runner_read_the_same_documents(tmp_path):
    """jsonl(.gz/.zst), parquet and .txt (one document per file) mean the same to every command."""
    inputs = mixed_corpus(tmp_path)
    ours = [(d.id, d.text) for d in iter_documents([str(inputs)])]
    assert ours == [(d.id, d.text) for d in shard_docs(inputs)]
    assert {"raw/txt/one", "raw/txt/two", "zh0", "en0", "raw/b:1"} <= {i for i, _ in ours}


def test_a_bom_does_not_break_the_first_record(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + '{"id": "a", "text": "第一条"}\n{"id": "b", "text": "second"}\n'.encode())
    assert [(d.id, d.text) for d in iter_documents([str(path)])] == [("a", "第一条"), ("b", "second")]


def test_a_bad_record_names_file_and_line_or_is_collected(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": "ok"}, {"content": "wrong field"}, "{broken", {"text": "end"}])
    with pytest.raises(InputError, match=r"in\.jsonl:2: missing text field 'text'"):
        list(iter_documents([str(path)]))
    skipped = []
    assert [d.text for d in iter_documents([str(path)], skipped=skipped)] == ["ok", "end"]
    assert [(q.line, q.error.split(" ")[0]) for q in skipped] == [(2, "missing"), (3, "invalid")]


def test_cleaned_shards_keep_their_source_and_lang(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"id": ["x"], "text": ["t"], "source": ["raw/a.jsonl"], "lang": ["en"]}),
                   tmp_path / "part-00000.parquet")
    (doc,) = iter_documents([str(tmp_path)])
    assert (doc.id, doc.source, doc.meta["lang"]) == ("x", "raw/a.jsonl", "en")


def test_no_files_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no input files"):
        list(iter_documents([str(tmp_path)]))


def test_a_save_to_disk_dataset_is_read_with_its_columns(tmp_path):
    from datasets import Dataset
    Dataset.from_dict({"id": ["a", "b"], "content": ["第一条", "second"]}).save_to_disk(str(tmp_path / "ds"))
    docs = list(iter_documents([str(tmp_path / "ds")], text_field="content"))
    assert [(d.id, d.text) for d in docs] == [("a", "第一条"), ("b", "second")]


def test_a_directory_without_readable_files_is_named(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.json").write_text('{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"corpus: no readable files \(found \.json\).*named \.jsonl"):
        list(iter_documents([str(tmp_path / "corpus")]))
