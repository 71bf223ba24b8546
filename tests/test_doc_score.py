"""The learned document quality score: what it catches, what it keeps, its file and its trainer."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest

from common.config import ConfigError, load_config
from dataprep.cli import main as dataprep_main
from dataprep.core import Document, StageStats
from dataprep.learn import Logistic
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
# Modern genuine text written for this test (not in any training or benchmark set): news, a
# forum post, an encyclopedic paragraph, a review. The sample the LMs learned from is fortunes,
# poems, a 1906 novel and software manuals: these must still score as good.
MODERN = [
    ("zh", "本市今年第三季度新能源汽车销量同比增长百分之四十二，充电桩数量突破五万个。市交通委员会负责人在"
           "周二的新闻发布会上表示，明年将在老旧小区新增一批公共充电设施，并试点夜间低谷电价，"
           "以缓解居民充电难的问题。"),
    ("zh", "楼主你好，我家宝宝十个月了，最近晚上总是醒好几次，白天精神倒还不错。请问大家有没有类似的经历？"
           "后来是怎么慢慢调整过来的？"),
    ("zh", "长江是亚洲第一长河，全长约六千三百公里，流经青海、西藏、四川、湖北、江苏等省区，最终注入东海。"
           "长江流域面积约占全国陆地面积的五分之一，是中国经济最发达的地区之一。"),
    ("zh", "耳机音质不错，低音很足，就是戴久了耳朵有点疼。物流很快，隔天就到了，包装也很完整，总体满意。"),
    ("en", "The city council voted on Tuesday to expand the bike lane network by 40 kilometres over the "
           "next three years. Officials said the plan would be funded by a mix of federal grants and "
           "parking revenue, and that construction on the first segment would begin in the spring."),
    ("en", "Has anyone else had trouble with the latest firmware update? My router keeps dropping the "
           "connection every few hours, and rolling back did not help. Any suggestions would be appreciated."),
    ("en", "Photosynthesis is the process by which green plants and some other organisms use sunlight to "
           "synthesise nutrients from carbon dioxide and water. It generally involves the green pigment "
           "chlorophyll and releases oxygen as a by-product."),
    ("en", "Battery life is excellent and the screen is bright enough to use outdoors. The keyboard feels "
           "a little cramped, though, so I would not recommend it for long typing sessions."),
]
# A modern article as the line cleaner leaves a page: title, headings, paragraphs, and one ad line
# it missed. A page is removed only if what is left is bad, never for a spam line around it.
ARTICLE_ZH = ("城市更新：老街区的新生活\n"
              "走进城东的老街区，青石板路两旁的旧房子刚刚完成改造，外墙保留了原来的样子，屋里却装上了新的水电管线。\n"
              "一、先问居民想要什么\n"
              "改造开始前，街道办事处挨家挨户上门征求意见。很多老人提出，最需要的是加装扶手和改善排水，而不是大拆大建。\n"
              "限时特惠！新客立减八百元，名额有限先到先得。\n"
              "施工队根据这些意见调整了方案，把有限的资金优先用在居民最关心的地方。\n"
              "二、留住街区的烟火气\n"
              "改造后的街区里，早点铺、修车摊和理发店都回来了。一位在这里住了四十年的居民说，房子变新了，邻居还是老邻居，"
              "这才是最让人高兴的事。")
ARTICLE_EN = ("How small libraries are changing\n"
              "Ten years ago, the library on Elm Street was mostly a quiet room full of shelves. Today it runs coding "
              "clubs for teenagers, lends out tools, and hosts a weekly job-search workshop.\n"
              "Listening first\n"
              "Before changing anything, the staff asked visitors what they were missing. Many said they needed help "
              "filling in online forms, while parents wanted a safe place for children after school.\n"
              "Limited offer! New customers save 30% today, while stocks last.\n"
              "Keeping the quiet\n"
              "The reading room is still there, and the staff say it is as busy as ever. The changes, they argue, have "
              "brought in people who had never owned a library card.")
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
    gain = model.feature_names(lang).index("gain")   # context helps real text, not shuffled characters
    assert model.features(salad, lang)[gain] < model.features(text, lang)[gain] - 1.0


def test_fluent_spam_and_keyword_injection_are_caught(model):
    assert model.score(SPAM, "en")[0] < 0.5
    llr = model.feature_names("en").index("llr")     # the commercial LM explains spam better than clean text
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


@pytest.mark.parametrize("lang,text", MODERN)
def test_modern_genuine_text_of_any_domain_is_kept(model, lang, text):
    """Out of the reference domain is not low quality: news, forum, encyclopedic, review text."""
    kept, stats = run_stages([text], model=model)
    assert len(kept) == 1, [r.reason for r in stats.removals]
    assert kept[0].meta["quality_score"] >= 0.5


@pytest.mark.parametrize("lang,text", [("zh", ARTICLE_ZH), ("en", ARTICLE_EN)])
def test_modern_article_with_a_leftover_ad_line_is_kept(model, lang, text):
    """The model before this one (absolute perplexity under fortunes-like LMs, max spam window)
    removed the zh page (score 0.33)."""
    kept, stats = run_stages([text], model=model)
    assert len(kept) == 1, [r.reason for r in stats.removals]
    assert kept[0].meta["quality_score"] >= 0.5
    assert not run_stages([char_salad(text, random.Random(5))], model=model)[0]


@pytest.mark.parametrize("lang,text", MODERN[:1] + MODERN[4:5])
def test_modern_text_keeps_context_gain_that_its_salad_lacks(model, lang, text):
    """Domain-robust evidence: context helps modern text under LMs that never saw its domain;
    the same characters shuffled lose the gain and are removed."""
    gain = model.feature_names(lang).index("gain")
    salad = char_salad(text, random.Random(3))
    assert model.features(text, lang)[gain] > 1.0 > model.features(salad, lang)[gain]
    assert not run_stages([salad], model=model)[0]


def test_model_scores_without_absolute_perplexity(model):
    """The shipped model's features: no absolute cost ("unlike the reference text") features."""
    for lang in ds.LANGS:
        names = model.feature_names(lang)
        assert not {"xent", "word_xent", "rare_char_rate"} & set(names)
        assert {"gain", "spam_mix", "end_punct_frac"} <= set(names)


def test_cross_fitting_holds_out_whole_domains():
    items = [(f"{o}-{n}", f"text {o} {n}", o) for o in ("fortunes-zh/tang300", "fortunes-zh/chinese", "debian-faq-zh")
             for n in range(10)]
    folds = {name: (lm, texts) for name, lm, texts in ds.folds(items)}
    assert set(folds) == {"half0", "half1", "without:fortunes-zh", "without:debian-faq-zh"}
    lm, texts = folds["without:fortunes-zh"]
    assert len(texts) == 20 and not any("fortunes" in t for t in lm)
    assert sorted(folds["half0"][0] + folds["half0"][1]) == sorted(t for _, t, _ in items)


def test_spam_halves_share_no_template_or_keyword():
    for lang in ds.LANGS:
        a, b = ds.spam_part(lang, 0), ds.spam_part(lang, 1)
        assert a["templates"] and not set(a["templates"]) & set(b["templates"])
        assert not set(a["keywords"]) & set(b["keywords"])


def test_calibration_puts_the_cut_at_the_quantile_of_unseen_domain_good_text():
    rng = np.random.default_rng(0)
    rows = [{"a": float(v)} for v in np.concatenate([rng.normal(2, 1, 500), rng.normal(-2, 1, 500)])]
    ex = ds.Examples(rows, [1] * 500 + [0] * 500, ["without:x"] * 1000, ["good"] * 500 + ["bad"] * 500)
    clf = ds.fit_classifier(ex, ("a",), quantile=0.1)
    kept = clf.predict(ex.matrix(("a",))[:500]) >= 0.5
    assert kept.mean() == pytest.approx(0.9, abs=0.01)


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


@pytest.mark.slow
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
    assert trained.feature_names("en") == ds.FEATURES + ds.WORD_FEATURES
    assert 0.0 <= trained.score(ZH, "zh")[0] <= 1.0
    assert dataprep_main(["quality", "train", "--input", str(tmp_path / "nothing"), "--output", str(out)]) == 2


# An article of a regulation: every clause repeats its long legal formulas, which fails the
# duplicated-n-gram share (dup_*char_frac) although the text is genuine.
LAW_ZH = ("第二十五条任何单位或个人有下列行为之一，电力管理部门应给予表彰或一次性物质奖励：\n"
          "（一）对破坏电力设施或哄抢、盗窃电力设施器材的行为检举、揭发有功；\n"
          "（二）对破坏电力设施或哄抢、盗窃电力设施器材的行为进行斗争，有效地防止事故发生；\n"
          "（三）为保护电力设施而同自然灾害作斗争，成绩突出；\n"
          "（四）为维护电力设施安全，做出显著成绩。\n"
          "第二十六条违反本条例规定，未经批准或未采取安全措施，在电力设施周围或在依法划定的电力设施保护区内"
          "进行爆破或其他作业，危及电力设施安全的，由电力管理部门责令停止作业、恢复原状并赔偿损失。\n"
          "第二十七条违反本条例规定，危害发电设施、变电设施和电力线路设施的，由电力管理部门责令改正；"
          "拒不改正的，处一万元以下的罚款。\n"
          "第二十八条违反本条例规定，在依法划定的电力设施保护区内进行作业，危及电力设施安全的，"
          "由电力管理部门责令停止作业、恢复原状并赔偿损失。")


def test_repetition_rule_deferred_to_a_high_score(model):
    """A law text failing only the duplicated-n-gram rule is kept on a high score (and tagged
    while it waits); without the deferral the rule removes it. Template spam that repeats its
    sentences stays removed."""
    rule = QualityFilter(QualityConfig(defer_short=True)).first_failure
    assert rule(LAW_ZH, "zh") == (None, False)
    assert QualityFilter(QualityConfig(defer_short=True, defer_rules=[])).first_failure(LAW_ZH, "zh")[0] \
        .startswith("dup_")
    kept, stats = run_stages([LAW_ZH], model=model)
    assert len(kept) == 1 and kept[0].meta["quality_score"] >= 0.95, [r.reason for r in stats.removals]
    assert "deferred_rule" not in kept[0].meta and stats.counters["rule_deferred"] == 1
    spam = ds.fill_templates(ds.TRAIN_SPAM["zh"]["templates"][:2], ds.TRAIN_SPAM["zh"]["slots"], random.Random(3), 12)
    kept, stats = run_stages([spam], model=model)
    assert not kept, "repeated template spam must not pass"
    with pytest.raises(ConfigError, match="defer_rules"):
        load_config(QualityConfig, data={"defer_rules": ["dup_line_frac"]})


def test_one_weight_vector_per_bad_kind_separates_kinds_on_opposite_sides():
    """Good text between two bad kinds that differ from it in opposite directions (salad-like
    below, spam-like above on one feature): one good-vs-bad hyperplane cannot keep good and drop
    both; a class per kind can."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.5, 600), rng.normal(-3, 0.5, 300), rng.normal(3, 0.5, 300)])[:, None]
    labels = ["good"] * 600 + ["salad"] * 300 + ["spam"] * 300
    bad = np.array([label != "good" for label in labels])
    per_kind = Logistic.fit(x, labels, "good").predict(x) >= 0.5
    binary = Logistic.fit(x, ["good" if not b else "bad" for b in bad], "good").predict(x) >= 0.5
    assert per_kind[~bad].mean() > 0.99 and (~per_kind[bad]).mean() > 0.99
    assert min(binary[~bad].mean(), (~binary[bad]).mean()) < 0.75


def test_binary_model_files_load_with_the_same_scores(tmp_path):
    """A classifier file of the earlier one-vector form scores as sigmoid(w . z + b)."""
    w = np.array([1.5, -0.5])
    path = tmp_path / "clf.npz"
    np.savez(path, **{"c.mean": np.zeros(1), "c.std": np.ones(1), "c.weights": w})
    with np.load(path) as data:
        clf = Logistic.from_arrays(data, "c")
    assert clf.predict(np.array([[2.0]]))[0] == pytest.approx(1 / (1 + np.exp(-(1.5 * 2.0 - 0.5))))


def test_register_feature_rises_on_selling_prose(model):
    """word_spam_mix: the commercial word LM explains selling prose (written for this test) better
    than the clean word LM does, and modern genuine prose worse."""
    assert "word_spam_mix" in model.feature_names("en")
    values = dict(zip(model.feature_names("en"), model.features(SPAM, "en")))
    genuine = [dict(zip(model.feature_names("en"), model.features(t, "en")))["word_spam_mix"]
               for lang, t in MODERN + [("en", EN)] if lang == "en"]
    assert values["word_spam_mix"] > 0.3 > max(genuine)
    assert model.score(SPAM, "en")[0] < 0.5
