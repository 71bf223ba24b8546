"""End-to-end runs of `dataprep run`: formats, ids, outputs, accounting, Slurm-style steps, CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from dataprep_corpus import NO_FILTERS, SAMPLE, config, mixed_corpus, real_texts, write_jsonl

from common.config import ConfigError
from dataprep import runner
from dataprep.stages.normalize import ZH_MIN_HAN, detect_lang, han_ratio, normalize_text, without_code

REPO = Path(__file__).resolve().parents[1]


def outputs(out: Path) -> dict[str, bytes]:
    """Every final output file (not work/) by relative path."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and "work" not in p.relative_to(out).parts}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    inputs = mixed_corpus(root)
    cfg = config([inputs], root / "out", **NO_FILTERS)
    return cfg, runner.run_all(cfg)


def test_outputs_readable_by_datasets_with_ids_and_lang(finished):
    from datasets import load_dataset

    cfg, manifest = finished
    out = Path(cfg.output)
    files = sorted(str(p) for p in (out / "clean").glob("part-*.parquet"))
    assert [Path(f).relative_to(out).as_posix() for f in files] == manifest["outputs"]["clean"]
    ds = load_dataset("parquet", data_files=files, split="train", cache_dir=str(out.parent / "hf"))
    assert ds.column_names == ["id", "text", "source", "lang", "domain"]
    rows = {r["id"]: r for r in ds}
    assert len(rows) == manifest["kept"] == len(ds)
    assert rows["zh0"]["lang"] == "zh" and rows["en0"]["lang"] == "en"
    assert rows["zh0"]["source"].endswith("raw/a.jsonl")
    assert "raw/b:1" in rows                      # no id field: <file stem>:<line>
    assert "raw/txt/two" in rows                  # .txt: one document per file, id = its path
    assert "raw/a:7" not in rows                  # verbatim copy of zh0, later in (file, line) order


def test_manifest_accounts_for_every_document(finished):
    cfg, manifest = finished
    out = Path(cfg.output)
    removed = [json.loads(line) for line in (out / "removed.jsonl").open(encoding="utf-8")]
    assert manifest["docs_in"] == 7 + 6 + 7 + 6 + 2
    assert manifest["docs_in"] == manifest["kept"] + manifest["removed"] + manifest["quarantined"]
    assert len(removed) == manifest["removed"]
    reasons = {(r["id"], r["stage"], r["reason"]) for r in removed}
    assert ("raw/a:7", "exact_dedup", "exact_duplicate") in reasons
    assert ("raw/txt/one", "exact_dedup", "exact_duplicate") in reasons   # zh1 + newline normalises away
    assert ("raw/c:7", "minhash", "near_duplicate") in reasons            # en0 + two words
    stages = manifest["stages"]
    assert stages["exact_dedup"]["removed"] == {"exact_duplicate": 2}
    assert stages["read"]["seen"] == manifest["docs_in"] - manifest["quarantined"]
    cluster = [json.loads(line) for line in (out / "clusters.jsonl").open(encoding="utf-8")]
    assert {"kept": "raw/b:1", "size": 2} == {k: cluster[0][k] for k in ("kept", "size")}
    assert cluster[0]["duplicates"][0]["id"] == "raw/c:7" and cluster[0]["duplicates"][0]["similarity"] > 0.7


def test_output_is_the_same_for_any_number_of_tasks(finished, tmp_path):
    cfg, _ = finished
    split = config(cfg.inputs, tmp_path / "split", num_workers=2, **NO_FILTERS)
    for step in runner.STEPS:
        ntasks = 3 if step in runner.MAP_STEPS else 1
        for task in range(ntasks):
            runner.run_step(split, step, task, ntasks)
    assert outputs(tmp_path / "split") == outputs(Path(cfg.output))


def test_step_before_its_input_is_refused(finished, tmp_path):
    cfg = config(finished[0].inputs, tmp_path / "early")
    with pytest.raises(runner.RunError, match="needs step 'filter' finished first; not done: filter:0"):
        runner.run_step(cfg, "lsh")


def test_other_settings_in_the_same_output_are_refused(finished):
    cfg, _ = finished
    changed = config(cfg.inputs, Path(cfg.output), shard_size=5, **NO_FILTERS)
    with pytest.raises(ConfigError, match="other settings"):
        runner.run_all(changed)


def test_sample_corpus_through_every_stage(tmp_path):
    """The bundled sample with all stages on: each stage acts, the accounting holds, the report builds."""
    cfg = config([SAMPLE / "part-0000.jsonl.gz"], tmp_path / "out", shard_size=200, num_workers=2)
    manifest = runner.run_all(cfg)
    assert manifest["docs_in"] == manifest["kept"] + manifest["removed"] + manifest["quarantined"]
    assert manifest["stage_order"] == ["read", "normalize", "lines", "quality", "doc_score", "sensitive_words",
                                       "pii", "exact_dedup", "minhash"]
    scores = pq.read_table(tmp_path / "out" / "clean", columns=["lang", "quality_score"]).to_pylist()
    assert all(0.0 <= r["quality_score"] <= 1.0 for r in scores if r["lang"] in ("zh", "en"))
    stages = manifest["stages"]
    assert stages["lines"]["counters"]["lines.docs_changed"] > 0
    assert stages["pii"]["counters"]["pii.docs_changed"] > 0
    for stage in ("quality", "exact_dedup", "minhash"):
        assert sum(stages[stage]["removed"].values()) > 0, stage
    assert manifest["quarantined"] >= 1 and set(manifest["kept_by_lang"]) == {"en", "zh"}
    lengths = json.loads((tmp_path / "out" / "lengths.json").read_text())
    assert sum(lengths["after"]) == manifest["kept"] and sum(lengths["before"]) == stages["normalize"]["kept"]
    assert len(lengths["edges"]) == len(lengths["after"]) + 1 < 200      # fixed bins, whatever the corpus size
    assert manifest["chars_kept"] == sum(len(t) for t in pq.read_table(tmp_path / "out" / "clean").column("text").to_pylist())
    from dataprep.report import write_report
    assert write_report(tmp_path / "out").is_file()


def test_normalisation_keeps_paragraphs_and_fullwidth_punctuation():
    text, counts = normalize_text("\ufeff第一段，\u200b你好！\r\n\r\n\r\n\t第二段：\x07结束。\u3000  \n\ud800")
    assert text == "第一段，你好！\n\n第二段：结束。\n\ufffd"
    assert counts == {"surrogates_repaired": 1, "control_chars_removed": 3}
    from opencc import OpenCC
    assert normalize_text("漢語簡體轉換", OpenCC("t2s"))[0] == "汉语简体转换"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab 中文，。！\n\r\t\x00\u200b\u3000\ufeffＡ１\ud800é\u0301"), max_size=40))
def test_normalisation_is_idempotent_and_clean(text):
    once, _ = normalize_text(text)
    assert normalize_text(once)[0] == once
    assert not any(ch in once for ch in "\r\t\x00\u200b\u3000\ufeff\ud800")
    assert "\n\n\n" not in once and once == once.strip()
    assert once.count("，") == text.count("，") and once.count("Ａ") == text.count("Ａ")   # full-width kept


def test_language_tag_from_han_ratio():
    assert detect_lang(real_texts("fortunes-zh/chinese", 1)[0]) == "zh"
    assert detect_lang("ls -l /etc 列出目录 ┌──┐ 1234") == "zh"
    assert detect_lang(real_texts("fortunes/", 1)[0]) == "en"
    assert detect_lang("12345 ！？ ┌──┐") == "other"


def test_commands_and_paths_in_a_chinese_manual_do_not_make_it_english():
    """A Debian Reference section: Han / (Han + Latin letters) is 0.23 counting the commands' and
    paths' letters, 0.77 without them. English prose around the same commands stays English."""
    manual = ("对于目录树下面的数据集，\"cp -a\" 命令可以实现常规备份。\n"
              "$ rsync -aHAXx --delete /home/user/ /var/backups/home-user/\n"
              "$ tar --create --gzip --file=/var/backups/etc.tar.gz /etc/apt /etc/ssh\n"
              "把你的公钥放到远程主机的 \"~/.ssh/authorized_keys\"。")
    assert han_ratio(manual) < ZH_MIN_HAN <= han_ratio(without_code(manual))
    assert detect_lang(manual) == "zh"
    english = manual.replace("对于目录树下面的数据集，", "For a data set under a directory tree, ").replace(
        "命令可以实现常规备份。", "makes a regular backup. ").replace("把你的公钥放到远程主机的", "Put your public key into")
    assert detect_lang(english) == "en"


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dataprep.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_cli_help_yaml_config_and_overrides(tmp_path):
    for args in (["--help"], ["run", "--help"], ["report", "--help"]):
        result = run_cli(*args)
        assert result.returncode == 0 and "usage:" in result.stdout
    assert run_cli("run", "--list-steps").stdout.split() == [
        "plan", "reduce", "read", "map", "linecount", "map", "filter", "map", "lsh", "map", "dedup", "reduce",
        "write", "map", "finalize", "reduce"]
    write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in real_texts("fortunes/", 3)])
    yaml_path = tmp_path / "c.yaml"
    yaml_path.write_text(f"inputs: [{tmp_path / 'in.jsonl'}]\noutput: {tmp_path / 'o'}\nminhash:\n  threshold: 0.8\n")
    result = run_cli("run", "--config", str(yaml_path), "num_workers=1", "minhash.num_perm=64")
    assert result.returncode == 0, result.stderr
    assert "docs in 3: kept 3" in result.stdout
    bad = run_cli("run", "--config", str(yaml_path), "minhash.treshold=0.5")
    assert bad.returncode == 2 and "did you mean 'minhash.threshold'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_bundled_configs_load():
    from common.config import load_config
    from dataprep.config import DataConfig
    for path in sorted((REPO / "configs" / "data").glob("*.yaml")):
        cfg = load_config(DataConfig, path)
        assert cfg.inputs, path
