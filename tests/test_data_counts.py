"""A small data run and its pack, end to end: their counts reach W&B (offline) when asked, the
manifest holds each filter metric's histogram summed over shards, and `dataprep report --packed`
shows tokens per source, language and domain."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from common.wandb_log import offline_summary
from dataprep import runner
from dataprep.cli import main
from dataprep.pack import PackConfig, pack
from dataprep.tracking import DataWandbConfig
from dataprep_corpus import config, real_texts, write_jsonl
from tests.tokenizer_corpus import sample_documents, tiny_tokenizer

FAKE_KEY = "0123456789abcdef0123456789abcdef-h15-key"     # must never reach a file


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """Raw -> `dataprep run --wandb` (3 shards) -> `dataprep pack --wandb`, W&B offline with an API key set."""
    root = tmp_path_factory.mktemp("counts")
    zh, en = real_texts("fortunes-zh", 20), real_texts("fortunes/", 20)
    zh[-1] = "\n".join(line + " ★★★★★★" if line.strip() else line for line in zh[-1].split("\n"))  # symbol_ratio
    write_jsonl(root / "raw" / "zh.jsonl", [{"text": t} for t in zh])
    write_jsonl(root / "raw" / "en.jsonl", [{"text": t} for t in en + ["short", "买 " * 80]])
    model = tiny_tokenizer(root / "tok", sample_documents(zh=60, en=30), jieba_fraction=0.0)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WANDB_MODE", "offline")
        env.setenv("WANDB_API_KEY", FAKE_KEY)
        manifest = runner.run_all(config([root / "raw"], root / "out", shard_size=20, wandb={"enabled": True},
                                         domain={"rules": [{"match": "*/zh.jsonl", "domain": "books"}]}))
        packed = pack(PackConfig(inputs=[str(root / "out" / "clean")], tokenizer=str(model), output=str(root / "packed"),
                                 validation_ratio=0.2, num_workers=1, wandb=DataWandbConfig(enabled=True)),
                      log=lambda _: None)
    return {"root": root, "manifest": manifest, "packed": packed}


def _summary(directory):
    return offline_summary(directory, (directory / "wandb_run_id").read_text(encoding="utf-8").strip())


def test_the_data_runs_counts_reach_its_wandb_run(done):
    out, manifest = done["root"] / "out", done["manifest"]
    summary = _summary(out)
    assert manifest["shards"] == 3 and manifest["removed_by_reason"]
    for key in ("docs_in", "kept", "removed", "quarantined", "chars_kept"):
        assert summary[key] == manifest[key], key
    assert {k.removeprefix("removed/"): v for k, v in summary.items() if k.startswith("removed/")} \
        == manifest["removed_by_reason"]
    assert summary["stage/quality/seen"] == manifest["stages"]["quality"]["seen"]
    assert summary["lang/zh/kept_docs"] == manifest["by_lang"]["zh"]["kept_docs"]
    assert summary["domain/books/kept_chars"] == manifest["by_domain"]["books"]["kept_chars"]


def test_the_packs_counts_reach_its_wandb_run(done):
    summary, packed = _summary(done["root"] / "packed"), done["packed"]
    for split, info in packed["splits"].items():
        assert summary[f"{split}/tokens"] == info["num_tokens"] > 0
        assert summary[f"{split}/lang/zh/tokens"] == info["by_lang"]["zh"]["tokens"]
        assert summary[f"{split}/domain/books/documents"] == info["by_domain"]["books"]["documents"]


def test_no_api_key_and_nothing_without_wandb(done, tmp_path):
    root = done["root"]
    for path in [*root.rglob("*")]:
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
    plain = runner.run_all(config([root / "raw"], tmp_path / "plain", shard_size=20))    # wandb off by default
    assert plain["kept"] == done["manifest"]["kept"] and not (tmp_path / "plain" / "wandb").exists()


def test_filter_histograms_are_summed_over_shards_and_count_every_measured_document(done):
    out, manifest = done["root"] / "out", done["manifest"]
    stages = manifest["stages"]
    quality = stages["quality"]["metrics"]
    shards = [json.loads(p.read_text(encoding="utf-8"))["stages"]["quality"]["metrics"]
              for p in sorted((out / "work" / "filter").glob("shard-*/stats.json"))]
    assert len(shards) == 3
    for metric, hist in quality.items():
        parts = [s[metric] for s in shards if metric in s]
        assert hist["counts"] == [sum(c) for c in zip(*(p["counts"] for p in parts))], metric
        assert [c["past"] for c in hist["cuts"]] == [sum(c) for c in zip(*([x["past"] for x in p["cuts"]] for p in parts))]
    # every zh / en document is measured by the first rule of its language; every read document by read
    assert sum(quality["zh.chars"]["counts"]) == stages["quality"]["counters"]["lang.zh"]
    assert sum(quality["en.words"]["counts"]) == stages["quality"]["counters"]["lang.en"]
    assert sum(stages["read"]["metrics"]["chars"]["counts"]) == stages["read"]["seen"]
    # past a cut: removed by that rule, or (short documents) handed to the learned score
    min_words = quality["en.words"]["cuts"][0]
    assert min_words["setting"] == "quality.en.min_words" and min_words["value"] == 50 and min_words["keep"] == ">="
    assert min_words["past"] >= manifest["removed_by_reason"]["quality/too_few_words"] >= 1       # "short"
    past_symbols = sum(quality[f"{lang}.symbol_ratio"]["cuts"][0]["past"] for lang in ("zh", "en"))
    assert past_symbols == stages["quality"]["removed"]["symbol_ratio"] > 0          # never deferred
    scored = stages["doc_score"]["metrics"]
    assert sum(sum(h["counts"]) for h in scored.values()) == stages["doc_score"]["seen"] - sum(
        n for k, n in stages["doc_score"]["counters"].items() if k.startswith("unscored."))


def test_report_with_the_packed_dir_shows_tokens_per_source_language_and_domain(done, capsys):
    root, packed = done["root"], done["packed"]
    assert main(["report", str(root / "out"), "--packed", str(root / "packed")]) == 0
    page = (root / "out" / "report" / "index.html").read_text(encoding="utf-8")
    markdown = (root / "out" / "report" / "report.md").read_text(encoding="utf-8")
    for name in ("lang", "domain", "source"):
        tokens = sum(info[f"by_{name}"][value]["tokens"] for info in packed["splits"].values()
                     for value in info[f"by_{name}"] if value in ("zh", "books", str(root / "raw" / "zh.jsonl")))
        assert f"<td>{tokens:,}</td>" in page and f"| {tokens:,} |" in markdown, name
    assert "<th>tokens</th>" in page and "chars/token" in markdown
    clean_zh = sum(1 for p in (root / "out" / "clean").glob("*.parquet")
                   for lang in pq.read_table(p, columns=["lang"]).column("lang").to_pylist() if lang == "zh")
    assert sum(info["by_lang"]["zh"]["documents"] for info in packed["splits"].values()) == clean_zh
    # the filter metrics: one figure per stage and language, inlined, each with its cut in the table
    for figure in ("metrics-quality_zh.png", "metrics-quality_en.png", "metrics-doc_score_en.png", "metrics-read.png"):
        assert (root / "out" / "report" / figure).is_file() and f"({figure})" in markdown
    assert "<h2>Filter metrics and their cuts</h2>" in page and "quality.zh.min_chars &gt;= 201" in page
    assert page.count("src='data:image/png;base64,") >= 7 and ".png'" not in page
    assert main(["report", str(root / "out"), "--packed", str(root / "raw")]) == 2
    assert "no manifest" in capsys.readouterr().err
