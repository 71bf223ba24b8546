"""The learned document quality score: what it catches, what it keeps, its file and its trainer."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest

from common.config import ConfigError
from dataprep.cli import main as dataprep_main
from dataprep.core import Document, StageStats
from dataprep.stages import doc_score as ds
from dataprep.stages.doc_score import DocScore, DocScoreConfig, QualityModel, char_salad, inject_keywords
from dataprep.stages.quality import QualityConfig, QualityFilter

ZH = ("城市的夜晚总是来得很慢。傍晚六点，街道两旁的路灯一盏接一盏亮起来，下班的人们从地铁站里涌出，"
      "有的人匆匆赶往菜市场，有的人在路边的小店里买一份热腾腾的晚饭。老张在这条街上开了二十年的修鞋铺。"
      "他说，这些年城市变化很大，高楼一座座盖起来，老邻居一个个搬走了，但总有人拿着磨坏的鞋子来找他。")
EN = ("The river was low that summer, and the boats that usually crowded the harbour had moved further down "
      "the coast. Most of the fishermen spent their mornings repairing nets on the quay. My grandfather said "
      "that he had seen the water this low only once before, when he was a boy, and that the town had "
      "survived it with patience and a good deal of complaining.")
SPAM = ("Looking for affordable medication without a prescription? Our licensed online drugstore ships "
        "generic pills worldwide with free express delivery. Order today and get a bonus discount on your "
        "next purchase. Claim your exclusive welcome offer now, limited stock available!")


@pytest.fixture(scope="module")
def model() -> QualityModel:
    return QualityModel.load(ds.DEFAULT_MODEL)


@pytest.mark.parametrize("text,lang", [(ZH, "zh"), (EN, "en")])
def test_character_salad_scores_worse_than_its_source(model, text, lang):
    salad = char_salad(text, random.Random(1))
    assert model.score(salad, lang)[0] < 0.5 <= model.score(text, lang)[0]
    gain = ds.FEATURES.index("gain")            # context helps real text, not shuffled characters
    assert model.features(salad, lang)[gain] < model.features(text, lang)[gain] - 1.0


def test_fluent_spam_and_keyword_injection_are_caught(model):
    assert model.score(SPAM, "en")[0] < 0.5
    llr = ds.FEATURES.index("llr")              # the commercial LM explains spam better than clean text
    assert model.features(SPAM, "en")[llr] > model.features(EN, "en")[llr] + 2.0
    injected = inject_keywords(EN, "en", ["cheap tramadol online", "bitcoin casino bonus"], random.Random(0))
    assert model.score(injected, "en")[0] < model.score(EN, "en")[0]
    assert model.score(injected, "en")[0] < 0.5


def run_stages(texts, defer_short=True, model=None):
    stats = StageStats("quality")
    docs = [Document(str(i), t) for i, t in enumerate(texts)]
    stages_out = QualityFilter(QualityConfig(defer_short=defer_short)).process(docs, stats)
    kept = list(DocScore(DocScoreConfig(), model).process(stages_out, stats))
    return kept, stats


@pytest.mark.parametrize("text", ["明天早上降温，出门记得多穿一件外套，路上注意安全。",
                                  "Reminder: the library closes early on Friday because of the staff meeting."])
def test_short_genuine_document_kept_with_its_score(model, text):
    kept, stats = run_stages([text], model=model)
    assert len(kept) == 1, [r.reason for r in stats.removals]
    assert kept[0].meta["short_doc"] and 0.5 <= kept[0].meta["quality_score"] <= 1.0
    assert kept[0].meta["perplexity"] > 1.0
    assert not run_stages([text], defer_short=False, model=model)[0]     # the length rule alone drops it


def test_stage_removes_with_named_reason_and_skips_other_languages(model):
    spam, other = Document("s", SPAM), Document("o", "12345 67890 !!!", meta={"lang": "other"})
    stats = StageStats("doc_score")
    assert list(DocScore(DocScoreConfig(), model).process([spam, other], stats)) == [other]
    assert stats.removed == {"low_quality_score": 1} and spam.meta["quality_score"] < 0.5
    assert "quality_score" not in other.meta and stats.counters["unscored.other"] == 1


def test_model_round_trips_through_its_file(model, tmp_path):
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = QualityModel.load(path)
    for text, lang in ((ZH, "zh"), (EN, "en")):
        assert loaded.score(text, lang)[0] == pytest.approx(model.score(text, lang)[0], abs=1e-12)
    with np.load(path, allow_pickle=False) as data:    # no pickled objects inside
        arrays = {k: data[k] for k in data.files}
    arrays["en.features"] = np.array(["xent"])
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ConfigError, match="retrain"):
        QualityModel.load(tmp_path / "bad.npz")


def test_config_validation_is_actionable(tmp_path):
    with pytest.raises(ConfigError, match="probability"):
        DocScoreConfig(en=ds.LangThresholds(min_score=1.5)).validate()
    with pytest.raises(ConfigError, match="dataprep quality train"):
        DocScoreConfig(model=str(tmp_path / "missing.npz")).validate()
    DocScoreConfig().validate()


def test_train_command_on_a_tiny_corpus(tmp_path, capsys):
    """12 real documents per language from the bundled sample train a model that loads and scores."""
    per_lang: dict[str, list[dict]] = {"zh": [], "en": []}
    for doc_id, text in ds.read_reference([Path("data/sample/raw")]):
        lang = ds.detect_lang(text)
        if lang in per_lang and len(per_lang[lang]) < 12:
            per_lang[lang].append({"id": doc_id, "text": text})
    corpus = tmp_path / "ref" / "part.jsonl.gz"
    corpus.parent.mkdir()
    with gzip.open(corpus, "wt", encoding="utf-8") as handle:
        for record in per_lang["zh"] + per_lang["en"] + [{"id": "noisy", "text": "x", "noise": "spam"}]:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    out = tmp_path / "model.npz"
    assert dataprep_main(["quality", "train", "--input", str(corpus.parent), "--output", str(out),
                          "--holdout", "0"]) == 0
    trained = QualityModel.load(out)
    assert "--holdout 0.0" in trained.recipe and "24 reference documents" in trained.recipe
    assert set(trained.clf) == {"zh", "en"} and "en" in trained.words
    assert 0.0 <= trained.score(ZH, "zh")[0] <= 1.0
    assert dataprep_main(["quality", "train", "--input", str(tmp_path / "nothing"), "--output", str(out)]) == 2
