"""Bad input never stops a run with a traceback: each bad record is quarantined or removed with a reason."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from dataprep_corpus import NO_FILTERS, config, real_texts, write_jsonl, write_parquet

from common.config import ConfigError
from dataprep import runner
from dataprep.reader import ShardReader, plan_shards

REPO = Path(__file__).resolve().parents[1]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8")]


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    good = real_texts("fortunes-zh/chinese", 2)
    raw = root / "raw"
    write_jsonl(raw / "bad.jsonl", [
        {"id": "ok", "text": good[0]},                  # 1
        '{"id": "broken", "text": "no closing',         # 2 broken JSON
        {"id": "nofield", "body": "text elsewhere"},    # 3 missing text field
        {"id": "number", "text": 42},                   # 4 non-string text
        "[1, 2, 3]",                                    # 5 not an object
        {"id": "blank", "text": " \n\t "},              # 6 empty
        {"id": "huge", "text": "长" * 5001},            # 7 over the cap
        {"id": "ctrl", "text": "\x00\x01\u200b"},       # 8 empty once control chars go
        '{"id": "surrogate", "text": "bad \\ud800 escape"}',  # 9 lone surrogate escape: repaired
        "",                                             # 10 blank line: not a record
    ])
    (raw / "bad.jsonl").write_bytes((raw / "bad.jsonl").read_bytes()
                                    + b'{"id": "latin1", "text": "caf\xe9 \xff ok"}\n')   # 11 invalid UTF-8
    whole = gzip.compress(("\n".join(json.dumps({"text": t}) for t in good) + "\n").encode(), mtime=0)
    (raw / "truncated.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (raw / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    write_parquet(raw / "ints.parquet", [{"text": 7}, {"text": 8}])
    return root, runner.run_all(config([raw], root / "out", read={"max_doc_chars": 5000}, **NO_FILTERS))


def test_each_bad_record_is_quarantined_with_file_and_line(bad_run):
    root, manifest = bad_run
    quarantine = read_jsonl(root / "out" / "quarantine.jsonl")
    where = {(Path(q["file"]).name, q["line"]): q["error"] for q in quarantine}
    assert where[("bad.jsonl", 2)].startswith("invalid JSON at column")
    assert where[("bad.jsonl", 3)] == "missing text field 'text' (fields: id, body)"
    assert where[("bad.jsonl", 4)] == "text field 'text' is int, not a string"
    assert where[("bad.jsonl", 5)] == "expected a JSON object, got list"
    assert where[("corrupt.parquet", None)].startswith("cannot read file")
    truncated = [(line, error) for (name, line), error in where.items() if name == "truncated.jsonl.gz"]
    assert len(truncated) == 1 and truncated[0][1].startswith("corrupt or truncated file")
    assert where[("ints.parquet", 2)] == "text field 'text' is int, not a string"   # row number as line
    assert manifest["quarantined"] == len(quarantine) == 8


def test_empty_huge_and_broken_text_are_removed_or_repaired(bad_run):
    root, manifest = bad_run
    removed = {r["id"]: (r["stage"], r["reason"]) for r in read_jsonl(root / "out" / "removed.jsonl")}
    assert removed == {"blank": ("read", "empty"), "huge": ("read", "too_large"),
                       "ctrl": ("normalize", "empty_after_normalize")}
    counters = manifest["stages"]["normalize"]["counters"]
    assert counters["utf8_repaired"] == 1 and counters["surrogates_repaired"] == 1
    import pyarrow.parquet as pq
    kept = {r["id"]: r["text"] for p in sorted((root / "out" / "clean").glob("*.parquet"))
            for r in pq.read_table(p).to_pylist()}
    assert kept["latin1"] == "caf\ufffd \ufffd ok" and kept["surrogate"] == "bad \ufffd escape"
    assert manifest["docs_in"] == manifest["kept"] + manifest["removed"] + manifest["quarantined"]


def test_cli_names_file_and_line_without_traceback(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"text": "fine text here"}, "{oops"])
    result = subprocess.run([sys.executable, "-m", "dataprep.cli", "run", f"inputs=[{tmp_path / 'in.jsonl'}]",
                             f"output={tmp_path / 'out'}", "num_workers=1"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"quarantined: {tmp_path / 'in.jsonl'}:2: invalid JSON at column 2" in result.stderr
    missing = subprocess.run([sys.executable, "-m", "dataprep.cli", "run", f"inputs=[{tmp_path / 'nope'}]",
                              f"output={tmp_path / 'out2'}"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "matches no file or directory" in missing.stderr
    assert "Traceback" not in result.stderr + missing.stderr


def test_unsupported_file_is_a_config_error(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(ConfigError, match="unsupported file type"):
        runner.run_all(config([tmp_path / "x.csv"], tmp_path / "out"))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(
    st.binary(max_size=30),
    st.builds(lambda t: json.dumps({"text": t}).encode(), st.text(max_size=20)),
    st.sampled_from([b'{"text": 1}', b"[]", b"null", b'{"id": 5, "text": "x"}', b"\xff\xfe{", b"  ",
                     b"[" * 100_000, b"9" * 5_000]),
), max_size=12), st.integers(1, 5))
def test_reader_accounts_for_every_line_of_arbitrary_bytes(lines, shard_size):
    """Whatever the bytes, each non-blank line is a document or a quarantine record, never an exception."""
    content = b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.jsonl"
        path.write_bytes(content)
        docs = quarantined = records = 0
        for shard in plan_shards([str(path)], shard_size):
            reader = ShardReader(shard, "text", "id")
            docs += sum(1 for _ in reader)
            quarantined += len(reader.quarantined)
            records += reader.records
    lines = content.removeprefix(b"\xef\xbb\xbf").split(b"\n")       # a leading BOM is not text
    assert records == docs + quarantined == sum(1 for line in lines if line.strip())


def test_a_run_where_every_record_is_quarantined_fails_and_says_why(tmp_path):
    """A wrong text_field must not end in 'docs in 3: kept 0' and exit 0."""
    path = write_jsonl(tmp_path / "in.jsonl", [{"content": f"text {i}"} for i in range(3)])
    with pytest.raises(runner.RunError, match=r"every one of the 3 input records was quarantined: no record had the "
                                              r"text field 'text' \(fields seen: content\): set text_field"):
        runner.run_all(config([path], tmp_path / "out"))
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_a_run_that_one_rule_nearly_empties_fails_names_the_setting_and_can_be_allowed(tmp_path, capsys):
    """Nearly every record removed for one reason is a wrong threshold or input, not a corpus: say which setting."""
    import yaml

    from common.config import to_dict
    from dataprep.cli import main

    path = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in real_texts("fortunes-zh/chinese", 4)])
    cfg = config([path], tmp_path / "out", read={"max_doc_chars": 5}, **NO_FILTERS)
    with pytest.raises(runner.RunError, match=r"read/too_large removed 4 of the 4 input records \(100%, more than "
                                              r"fail_share 0.95\): set by read.max_doc_chars = 5; .*--allow-mostly-removed"):
        runner.run_all(cfg)
    assert not (tmp_path / "out" / "manifest.json").exists()
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(to_dict(cfg)), encoding="utf-8")
    assert main(["run", "--config", str(tmp_path / "data.yaml")]) == 1
    assert "read/too_large removed 4 of the 4" in capsys.readouterr().err
    assert main(["run", "--config", str(tmp_path / "data.yaml"), "--allow-mostly-removed"]) == 0   # resumes: finalize only
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["removed_by_reason"] == {"read/too_large": 4}
