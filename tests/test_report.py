"""The run report from a synthetic run directory: files, every reason, escaping, valid images."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from common.atomic import write_json
from dataprep.report import ReportError, removal_steps, run_settings, write_report

STAGES = {  # written sorted by name, as common.atomic.write_json does
    "exact_dedup": {"seen": 80, "kept": 75, "removed": {"exact_duplicate": 5}, "counters": {}},
    "lines": {"seen": 90, "kept": 88, "removed": {"empty_after_line_clean": 2}, "counters": {"lines.nav": 40}},
    "minhash": {"seen": 75, "kept": 70, "removed": {"near_duplicate": 5}, "counters": {"clusters": 3}},
    "pii": {"seen": 80, "kept": 80, "removed": {}, "counters": {"pii.phone": 4}},
    "quality": {"seen": 88, "kept": 81, "removed": {"too_short": 4, "top_4char_frac": 3}, "counters": {}},
    "read": {"seen": 96, "kept": 93, "removed": {"empty": 3}, "counters": {}},
    "normalize": {"seen": 93, "kept": 90, "removed": {"empty_after_normalize": 3}, "counters": {}},
    "sensitive_words": {"seen": 81, "kept": 80, "removed": {"sensitive_words": 1}, "counters": {}},
}
REASONS = ["read/empty", "normalize/empty_after_normalize", "lines/empty_after_line_clean", "quality/too_short",
           "quality/top_4char_frac", "sensitive_words/sensitive_words", "exact_dedup/exact_duplicate",
           "minhash/near_duplicate"]


def make_run(tmp_path: Path, lengths: bool = True) -> Path:
    run = tmp_path / "run"
    write_json(run / "manifest.json", {"docs_in": 100, "kept": 70, "removed": 26, "quarantined": 4, "stages": STAGES})
    removed = []
    for label in REASONS:
        stage, reason = label.split("/")
        n = STAGES[stage]["removed"][reason]
        removed += [{"id": f"{reason}-{i}", "stage": stage, "reason": reason, "source": "part-0.jsonl",
                     "snippet": f"<script>alert({i})</script> 示例文本 {reason}"} for i in range(n)]
    (run / "removed.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in removed),
                                       encoding="utf-8")
    clusters = [{"kept": "a", "size": 2, "duplicates": [{"id": "b", "similarity": 0.9}]},
                {"kept": "c", "size": 4, "duplicates": [{"id": x, "similarity": 0.8} for x in "def"]},
                {"kept": "g", "members": [{"id": "h", "similarity": 0.75}]}]
    (run / "clusters.jsonl").write_text("".join(json.dumps(c) + "\n" for c in clusters), encoding="utf-8")
    if lengths:
        write_json(run / "lengths.json", {"edges": [0, 1, 10, 100, 1000, 10000, 100000],
                                          "before": [20, 20, 20, 20, 20, 0], "after": [0, 0, 20, 20, 20, 0]})
    return run


def test_report_files_reasons_escaping_and_images(tmp_path):
    index = write_report(make_run(tmp_path))
    out = index.parent
    page = index.read_text(encoding="utf-8")
    markdown = (out / "report.md").read_text(encoding="utf-8")
    for label in REASONS + ["read/quarantined"]:
        assert label in page and label in markdown
    assert "<script>" not in page and "&lt;script&gt;alert(0)&lt;/script&gt;" in page
    assert "示例文本" in page
    for name in ("waterfall.png", "lengths.png", "clusters.png"):
        with Image.open(out / name) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 200
        assert f"({name})" in markdown
    assert page.count("src='data:image/png;base64,") == 3 and ".png'" not in page    # one self-contained file


def test_waterfall_steps_follow_the_pipeline_and_add_up():
    steps = removal_steps({"quarantined": 4, "stages": STAGES})
    assert [label for label, _ in steps] == ["read/quarantined"] + REASONS
    assert sum(n for _, n in steps) == 100 - 70


def test_missing_optional_inputs_and_missing_manifest(tmp_path):
    run = make_run(tmp_path, lengths=False)
    (run / "clusters.jsonl").unlink()
    index = write_report(run)
    assert "lengths.json missing" in index.read_text(encoding="utf-8")
    assert not (index.parent / "lengths.png").exists() and not (index.parent / "clusters.png").exists()
    with pytest.raises(ReportError, match="manifest.json not found"):
        write_report(tmp_path / "nowhere")
    (run / "removed.jsonl").write_text('{"id": 1}\n{broken\n', encoding="utf-8")
    with pytest.raises(ReportError, match=r"removed.jsonl:2: not valid JSON"):
        write_report(run)


def test_edit_examples_and_a_custom_stage_order(tmp_path):
    """Removed lines and scrubbed PII show with their examples; a custom step list's order is kept."""
    stages = {**STAGES, "lines": {**STAGES["lines"], "examples": {"lines.nav": ["首页 | 新闻 <b>"]}},
              "pii": {**STAGES["pii"], "examples": {"pii.mobile": ["电话：<PHONE>，欢迎来电"]}}}
    order = ["read", "normalize", "quality", "lines", "sensitive_words", "exact_dedup", "minhash", "pii"]
    run = make_run(tmp_path)
    write_json(run / "manifest.json", {"docs_in": 100, "kept": 70, "removed": 26, "quarantined": 4,
                                       "stages": stages, "stage_order": order})
    page = write_report(run).read_text(encoding="utf-8")
    assert "lines: lines.nav" in page and "首页 | 新闻 &lt;b&gt;" in page
    assert "pii: pii.mobile" in page and "电话：&lt;PHONE&gt;，欢迎来电" in page
    markdown = (run / "report" / "report.md").read_text(encoding="utf-8")
    assert markdown.index("quality/too_short") < markdown.index("lines/empty_after_line_clean")
    assert markdown.index("minhash/near_duplicate") < markdown.index("| pii |")


def test_each_removal_reason_names_the_setting_behind_it(tmp_path):
    from dataprep import thresholds
    from dataprep.config import DataConfig

    run = make_run(tmp_path)
    (run / "config.yaml").write_text(DataConfig(inputs=["x"]).settings_yaml(), encoding="utf-8")
    page = write_report(run).read_text(encoding="utf-8")
    markdown = (run / "report" / "report.md").read_text(encoding="utf-8")
    for text in ("quality.zh.min_chars = 201", "quality.zh.top_ngram_max.4 = 0.256", "minhash.threshold = 0.5",
                 "safety.max_hits_per_line = 0.5", "lines.min_docs = 5"):
        assert text in page and text in markdown
    assert all(thresholds.known(label) for label in REASONS)
    settings = run_settings(run)
    assert thresholds.describe("doc_score/dup_18char_frac", settings) == (
        "quality.zh.dup_ngram_max.18 = 0.141, doc_score.zh.min_score_deferred = 0.95")    # a deferred rule that stood


def test_a_real_run_reports_sources_languages_and_kept_examples(tmp_path):
    """Default steps on real sample text plus planted junk: every reason that fires is one the report can explain."""
    from dataprep_corpus import config, real_texts, write_jsonl

    from dataprep import runner, thresholds

    zh, en = real_texts("fortunes-zh", 25), real_texts("fortunes/", 25)
    junk = ["短", "short", "买 " * 80, zh[0], en[0], "\n".join(["首页 | 新闻 | 联系我们"] * 6)]
    write_jsonl(tmp_path / "raw" / "zh.jsonl", [{"text": t} for t in zh])
    write_jsonl(tmp_path / "raw" / "en.jsonl", [{"text": t} for t in en + junk])
    manifest = runner.run_all(config([tmp_path / "raw"], tmp_path / "out", shard_size=100,
                                     domain={"rules": [{"match": "*/zh.jsonl", "domain": "books"}]}))
    assert manifest["removed_by_reason"] and all(thresholds.known(r) for r in manifest["removed_by_reason"])
    sources = manifest["by_source"]
    zh_source, en_source = (sources[str(tmp_path / "raw" / name)] for name in ("zh.jsonl", "en.jsonl"))
    assert manifest["by_domain"] == {"books": zh_source, "general": en_source}     # source glob -> domain
    assert sources[str(tmp_path / "raw" / "zh.jsonl")]["read_docs"] == 25
    assert sum(g["kept_docs"] for g in sources.values()) == manifest["kept"]
    assert sum(g["kept_chars"] for g in manifest["by_lang"].values()) == manifest["chars_kept"]
    assert {lang: g["kept_docs"] for lang, g in manifest["by_lang"].items()} == manifest["kept_by_lang"]
    page = write_report(tmp_path / "out").read_text(encoding="utf-8")
    assert "<h2>Per source</h2>" in page and "zh.jsonl" in page and "<h2>Kept examples</h2>" in page
    assert "<h2>Per domain</h2>" in page and "<td>books</td>" in page
    import html

    import pyarrow.parquet as pq
    first = {}
    for row in pq.read_table(tmp_path / "out" / manifest["outputs"]["clean"][0]).to_pylist():
        first.setdefault(row["lang"], row)
        assert row["domain"] == ("books" if row["source"].endswith("zh.jsonl") else "general")
    assert set(first) == {"zh", "en"}
    assert all(html.escape(row["text"][:60]) in page for row in first.values())


def test_histograms_have_fixed_bins_exact_cut_counts_and_add_up():
    import math

    import numpy as np

    from dataprep.histograms import COUNT, FRACTION, RATIO, Cut, Histogram, merge

    for bins in (FRACTION, COUNT, RATIO):
        edges = bins.edges()
        assert len(edges) == bins.size + 1 and np.all(np.diff(edges) > 0)
        for value in np.random.default_rng(0).uniform(0, edges[-1] if bins is FRACTION else 1e4, 500):
            i = bins.index(float(value))
            assert edges[i] <= value < edges[i + 1], (bins, value)
        assert bins.index(-1.0) == bins.index(math.nan) == 0 and bins.index(1e300) == bins.size - 1
    assert COUNT.index(0) == 0 and COUNT.index(1) == 1 and COUNT.index(2) == 5         # 4 bins per octave from 1
    assert FRACTION.index(1.0) == 99 and FRACTION.index(0.105) == 10
    low, high = Cut("quality.zh.min_chars", 201), Cut("quality.zh.top_ngram_max.4", 0.25)
    assert (low.keep, high.keep) == (">=", "<=") and low.fails(200) and not low.fails(201) and high.fails(0.3)
    with pytest.raises(ValueError, match="min or max"):
        Cut("safety.blocklist", 1).keep
    parts = []
    for values in ([10, 300, 150], [5000, 3]):
        hist = Histogram(COUNT, (low,))
        for v in values:
            hist.add(v)
        parts.append(json.loads(json.dumps(hist.to_json())))      # as stats.json holds it
    total = merge(merge(None, parts[0]), parts[1])
    assert sum(total["counts"]) == 5 and total["cuts"][0]["past"] == 3 and parts[0]["cuts"][0]["past"] == 2
    assert total["counts"][COUNT.index(300)] == 1 and len(total["counts"]) == COUNT.size
    other = Histogram(COUNT, (Cut("quality.zh.min_chars", 100),)).to_json()
    with pytest.raises(ValueError, match="other bins or cuts"):
        merge(total, other)


def test_each_filter_metric_is_plotted_with_its_cut_and_the_share_past_it(tmp_path):
    from dataprep.histograms import COUNT, FRACTION, Cut, Histogram

    chars, score = Histogram(COUNT, (Cut("quality.zh.min_chars", 201),)), Histogram(FRACTION, (Cut("doc_score.en.min_score", 0.5),))
    for v in [50, 120, 180, *range(300, 3000, 400)]:
        chars.add(v)
    for v in [0.1, 0.7, 0.9, 0.95]:
        score.add(v)
    stages = {**STAGES, "quality": {**STAGES["quality"], "metrics": {"zh.chars": chars.to_json()}},
              "doc_score": {"seen": 4, "kept": 3, "removed": {"low_quality_score": 1}, "counters": {},
                            "metrics": {"en.score": score.to_json()}}}
    run = make_run(tmp_path)
    write_json(run / "manifest.json", {"docs_in": 100, "kept": 70, "removed": 26, "quarantined": 4, "stages": stages})
    page = write_report(run).read_text(encoding="utf-8")
    markdown = (run / "report" / "report.md").read_text(encoding="utf-8")
    assert "<h2>Filter metrics and their cuts</h2>" in page
    assert "<td>quality/zh.chars</td><td>10</td><td><code>quality.zh.min_chars &gt;= 201</code></td><td>3 (30.0%)</td>" in page
    assert "| doc_score/en.score | 4 | `doc_score.en.min_score >= 0.5` | 1 (25.0%) |" in markdown
    for name in ("metrics-quality_zh.png", "metrics-doc_score_en.png"):
        with Image.open(run / "report" / name) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 300
        assert f"({name})" in markdown
    assert page.count("src='data:image/png;base64,") == 5
