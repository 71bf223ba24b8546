"""Progress reaches a piped console or Slurm log as plain lines (a tqdm bar only on a terminal)."""
from __future__ import annotations

import io

from dataprep_corpus import NO_FILTERS, config, real_texts, write_jsonl

from common.progress import progress
from dataprep import runner


def test_lines_every_interval_and_at_the_end_when_not_a_terminal():
    stream = io.StringIO()
    assert list(progress(range(3), "pack", unit="shard", every_s=0.0, stream=stream)) == [0, 1, 2]
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4 and lines[0].startswith("pack: shards 1/3 (33%), ") and "ETA" in lines[0]
    assert lines[-1].startswith("pack: shards 3/3 (100%)")
    quiet = io.StringIO()
    list(progress(iter(range(5)), "tokenizer: read", unit="document", stream=quiet))
    assert quiet.getvalue().startswith("tokenizer: read: 5 documents, ") and quiet.getvalue().count("\n") == 1


def test_a_data_run_under_a_pipe_logs_its_steps(tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in real_texts("fortunes-zh", 6)])
    runner.run_all(config([path], tmp_path / "out", **NO_FILTERS))
    err = capsys.readouterr().err
    for step in ("read", "filter", "write"):
        assert f"{step}: shards 2/2 (100%)" in err
