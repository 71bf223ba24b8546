"""Decontamination (dataprep/stages/decontam.py): planted eval items are removed, and only those."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from dataprep_corpus import config, real_texts, write_jsonl

from common.config import ConfigError
from dataprep import runner
from dataprep.report import write_report
from dataprep.stages.decontam import HAN_RUN_RE, WORD_RE

STEPS = ["normalize", "decontam", "exact_dedup"]


def planted(tmp_path):
    """A training corpus of real documents, four of them with text from an eval set appended:
    two carry a full n-gram of an eval item (13+ words, 20+ Han characters, in other case and
    punctuation), two only one shorter than that (12 words, 19 Han characters)."""
    en, zh = real_texts("fortunes/", 8), real_texts("fortunes-zh/chinese", 8)
    en_item = " ".join(WORD_RE.findall(en[7])[:40])
    zh_item = "".join(HAN_RUN_RE.findall(zh[6]))[:40]
    evals = write_jsonl(tmp_path / "eval" / "mc.jsonl", [{"id": "q-en", "question": en_item},
                                                         {"id": "q-zh", "question": zh_item}])
    words = WORD_RE.findall(en_item)
    han = zh_item[5:]
    punctuated = lambda s: "，".join(s[i:i + 4] for i in range(0, len(s), 4))   # noqa: E731
    records = [{"id": f"en{i}", "text": t} for i, t in enumerate(en[:6])] + \
              [{"id": f"zh{i}", "text": t} for i, t in enumerate(zh[:6])] + [
        {"id": "plant-en", "text": en[0][:400] + "\n\n" + " ".join(words[3:17]).upper() + "!"},
        {"id": "plant-zh", "text": zh[1][:300] + "\n" + punctuated(han[:21]) + "。"},
        {"id": "near-en", "text": en[2][:400] + "\n\n" + " ".join(words[3:15]) + "."},
        {"id": "near-zh", "text": zh[2][:300] + "\n" + punctuated(han[:19]) + "。"}]
    return write_jsonl(tmp_path / "raw" / "train.jsonl", records), evals


def test_planted_eval_items_are_removed_and_near_misses_kept(tmp_path):
    corpus, evals = planted(tmp_path)
    cfg = config([corpus], tmp_path / "out", steps=STEPS,
                 decontam={"eval_files": [str(evals)], "text_field": "question"})
    manifest = runner.run_all(cfg)
    assert manifest["removed_by_reason"] == {"decontam/decontam": 2}
    removed = [json.loads(line) for line in (tmp_path / "out" / "removed.jsonl").open(encoding="utf-8")]
    assert {r["id"]: r["detail"].split(" on ")[0] for r in removed} == {
        "plant-en": f"matched {evals}:q-en", "plant-zh": f"matched {evals}:q-zh"}
    kept = pq.read_table(tmp_path / "out" / "clean").column("id").to_pylist()
    assert {"near-en", "near-zh", "en0", "zh1"} <= set(kept) and len(kept) == 14
    report = (write_report(tmp_path / "out").parent / "report.md").read_text(encoding="utf-8")
    assert "decontam/decontam | 2 | decontam.word_ngram = 13, decontam.han_ngram = 20" in report
    assert f"`plant-zh` (matched {evals}:q-zh on" in report


def test_flag_mode_keeps_documents_and_names_the_matched_item(tmp_path):
    corpus, evals = planted(tmp_path)
    cfg = config([corpus], tmp_path / "out", steps=STEPS,
                 decontam={"eval_files": [str(evals)], "text_field": "question", "action": "flag"})
    manifest = runner.run_all(cfg)
    assert manifest["kept"] == 16 and manifest["stages"]["decontam"]["counters"] == {"flagged": 2}
    rows = pq.read_table(tmp_path / "out" / "clean", columns=["id", "decontam_match"]).to_pylist()
    assert {r["id"]: r["decontam_match"] for r in rows if r["decontam_match"]} == {
        "plant-en": f"{evals}:q-en", "plant-zh": f"{evals}:q-zh"}


def test_decontam_needs_eval_files(tmp_path):
    with pytest.raises(ConfigError, match="decontam.eval_files is empty"):
        config([tmp_path], tmp_path / "out", steps=STEPS)
    corpus, _ = planted(tmp_path)
    cfg = config([corpus], tmp_path / "out", steps=STEPS, decontam={"eval_files": [str(tmp_path / "nope.jsonl")]})
    with pytest.raises(ConfigError, match="decontam.eval_files: .*nope.jsonl"):
        runner.run_all(cfg)
