"""The data steps as a list (dataprep/steps.py): order from config, custom stages, validation."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dataprep_corpus import config, real_texts, write_jsonl

from common.config import ConfigError
from dataprep import runner

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "ARCHITECTURE.md"


def custom_filter_example() -> str:
    """The Python block that follows the custom-filter marker in docs/ARCHITECTURE.md."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    after = text[text.index("<!-- custom-filter example"):]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def corpus(tmp_path: Path) -> Path:
    zh, en = real_texts("fortunes-zh/chinese", 4), real_texts("fortunes/", 4)
    links = "Useful links:\n" + "\n".join(f"https://example.com/page{i} and more" for i in range(6))
    records = [{"id": f"zh{i}", "text": t} for i, t in enumerate(zh)] + \
              [{"id": f"en{i}", "text": t} for i, t in enumerate(en)] + \
              [{"id": "links", "text": en[0] + "\n\n" + links}, {"id": "copy", "text": zh[0]}]
    return write_jsonl(tmp_path / "raw" / "a.jsonl", records)


def test_documented_custom_filter_runs_as_a_step(tmp_path, monkeypatch):
    example = custom_filter_example()
    assert len(example.strip().splitlines()) <= 25           # the docs promise a ~20-line example
    (tmp_path / "my_filters.py").write_text(example, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    steps = ["normalize", {"name": "max_urls", "use": "my_filters:MaxUrlFilter", "params": {"max_urls": 3}},
             "exact_dedup", "minhash"]
    cfg = config([corpus(tmp_path)], tmp_path / "out", steps=steps)
    manifest = runner.run_all(cfg)
    assert manifest["stage_order"] == ["read", "normalize", "max_urls", "exact_dedup", "minhash"]
    assert manifest["stages"]["max_urls"]["removed"] == {"too_many_urls": 1}
    urls = manifest["stages"]["max_urls"]["metrics"]["urls"]                # its histogram, for the report
    assert sum(urls["counts"]) == 10 and urls["cuts"] == [{"setting": "max_urls", "value": 3, "keep": "<=", "past": 1}]
    removed = [json.loads(line) for line in (tmp_path / "out" / "removed.jsonl").open(encoding="utf-8")]
    assert {(r["id"], r["stage"], r["reason"]) for r in removed} == {
        ("links", "max_urls", "too_many_urls"), ("copy", "exact_dedup", "exact_duplicate")}
    table = pq.read_table(tmp_path / "out" / manifest["outputs"]["clean"][0])
    assert table.column_names == ["id", "text", "source", "lang", "domain", "urls"]      # the declared column
    assert manifest["docs_in"] == manifest["kept"] + manifest["removed"] == 10
    from common.config import load_config
    from dataprep.config import DataConfig
    saved = load_config(DataConfig, tmp_path / "out" / "config.yaml")      # the resolved settings, reloadable
    assert saved.settings_hash() == cfg.settings_hash() and saved.steps[1].params == {"max_urls": 3}
    again = runner.run_all(load_config(DataConfig, tmp_path / "out" / "config.yaml", [f"output={tmp_path / 'again'}"]))
    assert again == manifest                                                # the saved config reproduces the run
    assert pq.read_table(tmp_path / "again" / again["outputs"]["clean"][0]).equals(table)


def test_steps_after_dedup_run_in_the_write_pass_on_survivors_only(tmp_path):
    steps = ["normalize", "exact_dedup", "minhash", "pii"]
    cfg = config([corpus(tmp_path)], tmp_path / "out", steps=steps)
    manifest = runner.run_all(cfg)
    assert manifest["stage_order"] == ["read", "normalize", "exact_dedup", "minhash", "pii"]
    dedup_removed = manifest["removed_by_reason"]["exact_dedup/exact_duplicate"]
    assert manifest["stages"]["pii"]["seen"] == manifest["kept"] == 10 - dedup_removed - manifest.get(
        "removed_by_reason", {}).get("minhash/near_duplicate", 0)          # duplicates never reached pii
    assert "lines" not in manifest["stages"] and "quality" not in manifest["stages"]


def test_section_enabled_false_drops_a_listed_step(tmp_path):
    cfg = config([corpus(tmp_path)], tmp_path / "out", lines={"enabled": False}, quality={"enabled": False})
    manifest = runner.run_all(cfg)
    assert manifest["stage_order"] == ["read", "normalize", "doc_score", "sensitive_words", "pii", "exact_dedup",
                                       "minhash"]


def test_short_documents_go_to_the_learned_score_only_when_it_follows_quality(tmp_path):
    assert config([tmp_path], tmp_path / "out").quality.defer_short is True
    without = config([tmp_path], tmp_path / "out", steps=["normalize", "quality", "exact_dedup"])
    assert without.quality.defer_short is False
    with pytest.raises(ConfigError, match="list doc_score after quality"):
        config([tmp_path], tmp_path / "out", steps=["normalize", "quality"], quality={"defer_short": True})


@pytest.mark.parametrize("steps, message", [
    (["normalize", "quality", "no_such_step"], "unknown step 'no_such_step'"),
    (["quality", "normalize"], "normalize must be the first step"),
    (["normalize", "exact_dedup", "quality", "minhash"], "next to each other"),
    (["normalize", "minhash", "exact_dedup"], "exact_dedup must come before minhash"),
    (["normalize", "quality", "quality"], "listed twice"),
    (["normalize", {"name": "lines", "use": "x:Y"}], "built-in step's"),
    (["normalize", {"name": "mine", "use": "no_colon"}], "module:Class"),
])
def test_bad_step_lists_are_refused_with_what_to_change(tmp_path, steps, message):
    with pytest.raises(ConfigError, match=message):
        config([tmp_path], tmp_path / "out", steps=steps)


def test_custom_step_that_cannot_be_loaded_names_the_step(tmp_path):
    steps = ["normalize", {"name": "mine", "use": "no_such_module_xyz:Filter"}]
    cfg = config([corpus(tmp_path)], tmp_path / "out", steps=steps)
    with pytest.raises(ConfigError, match="steps: mine: cannot load"):
        runner.run_all(cfg)
