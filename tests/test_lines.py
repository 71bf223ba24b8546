"""Line cleaning on realistic scraped pages: chrome goes, every body line stays.

Fixture pages live in tests/fixtures/pages/: `<name>.txt` is the page as scraped,
`<name>.body.txt` the article lines that must survive, in order.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from common.config import ConfigError, load_config
from dataprep.core import Document, StageStats
from dataprep.stages import line_model
from dataprep.stages.lines import LineCleaner, LinesConfig, classify_lines, line_key, line_keys
from dataprep.stages.quality import QualityConfig, QualityFilter

PAGES = Path(__file__).parent / "fixtures" / "pages"
NAMES = ["news_zh", "essay_zh", "feature_en", "seo_zh"]
SLOGAN = "晨报网——做有温度的城市新闻"
BYLINE = "作者：李明"    # a byline: the rules keep it, the line model drops it (short, off-topic, no sentence)


def page(name: str) -> str:
    return (PAGES / f"{name}.txt").read_text(encoding="utf-8")


def body_lines(name: str) -> list[str]:
    return (PAGES / f"{name}.body.txt").read_text(encoding="utf-8").splitlines()


def repeated_keys(texts: list[str], cfg: LinesConfig) -> set[str]:
    """What the runner does: count each key once per document, keep keys in >= min_docs docs."""
    counts: Counter[str] = Counter()
    for i, text in enumerate(texts):
        counts.update(set(line_keys(Document(str(i), text), cfg)))
    return {key for key, n in counts.items() if n >= cfg.min_docs}


def same_site_pages() -> list[str]:
    """Five more pages of the news site: same chrome, different articles."""
    pages = []
    for i in range(5):
        text = page("news_zh")
        for j, line in enumerate(body_lines("news_zh")):
            text = text.replace(line, f"第{i}篇报道第{j}段：市民在公园里晨练的故事。")
        pages.append(text)
    return pages


def clean(texts: list[str], cfg: LinesConfig, repeated: set[str]):
    stats = StageStats("lines")
    docs = [Document(str(i), t) for i, t in enumerate(texts)]
    return list(LineCleaner(cfg, repeated).process(docs, stats)), stats


@pytest.mark.parametrize("name", NAMES)
def test_page_cleaned_to_exactly_its_body(name):
    cfg = LinesConfig()
    corpus = [page(n) for n in NAMES] + same_site_pages()
    kept, _ = clean([page(name)], cfg, repeated_keys(corpus, cfg))
    expected = [line for line in body_lines(name) if line != BYLINE]
    assert [line for line in kept[0].text.split("\n") if line.strip()] == expected


def test_counts_per_kind_and_site_line_needs_corpus_evidence():
    cfg = LinesConfig(model_enabled=False)     # the rules alone; the model drops the slogan too
    kept, stats = clean([page("news_zh")], cfg, set())
    lines = [line for line in kept[0].text.split("\n") if line.strip()]
    assert lines == [SLOGAN] + body_lines("news_zh")      # no pattern matches the site's slogan
    assert {k: v for k, v in stats.counters.items() if k != "lines.docs_changed"} == {
        "lines.nav": 6, "lines.meta": 2, "lines.share": 1, "lines.seo": 2, "lines.related": 6,
        "lines.copyright": 2}

    repeated = repeated_keys([page("news_zh")] + same_site_pages(), cfg)
    assert line_key(SLOGAN) in repeated
    kept, stats = clean([page("news_zh")], cfg, repeated)
    assert stats.counters["lines.repeated"] == 1 and SLOGAN not in kept[0].text


def test_duplicate_documents_are_left_for_dedup():
    cfg = LinesConfig()
    essay = "\n".join(body_lines("essay_zh"))
    copies = [essay] * 6
    kept, stats = clean(copies, cfg, repeated_keys(copies, cfg))
    assert [d.text for d in kept] == copies
    assert stats.counters["lines.repeated_left_for_dedup"] == 6 and not stats.removed


def test_document_of_only_chrome_is_removed():
    chrome = "首页 | 登录 | 注册\n分享到：微信 微博\n\nCopyright © 2024 Example. All rights reserved."
    kept, stats = clean([chrome, "正文只有一行，但它是内容。"], LinesConfig(), set())
    assert [d.text for d in kept] == ["正文只有一行，但它是内容。"]
    assert stats.removed == {"empty_after_line_clean": 1}


def test_line_keys_fold_digits_case_and_spaces_and_skip_short_lines():
    doc = Document("a", "发布时间：2024-03-15 阅读：1024\nShort\nAll  Rights Reserved 2024")
    other = Document("b", "发布时间：2023-11-02 阅读：77\nall rights reserved 1999")
    assert len(line_keys(doc)) == 2                           # "Short" is under min_key_chars
    assert line_keys(doc)[0] != line_keys(other)[0]           # 77 has two digits, 1024 four
    assert line_key("发布时间：2024-03-15 阅读：1024") == line_key("发布时间：2023-11-02 阅读：7777")
    assert line_keys(doc)[1] == line_keys(other)[1]


def test_config_validation():
    with pytest.raises(ConfigError, match="min_docs must be >= 2"):
        load_config(LinesConfig, data={"min_docs": 1})
    with pytest.raises(ConfigError, match="min_wrap_width"):
        load_config(LinesConfig, data={"min_wrap_width": 120})
    with pytest.raises(ConfigError, match="block_threshold"):
        load_config(LinesConfig, data={"block_threshold": 1.5})


def seo_spam_lines() -> list[str]:
    body = set(body_lines("seo_zh"))
    return [line for line in page("seo_zh").splitlines() if line.strip() and line not in body]


def test_model_drops_woven_seo_spam_that_no_rule_names():
    """Keyword titles (city + service + 哪家好/多少钱), 第N篇 teasers, a lottery line: rules keep them."""
    spam = seo_spam_lines()
    for model_enabled, most_left in ((False, 10), (True, 0)):
        kept, stats = clean([page("seo_zh")], LinesConfig(model_enabled=model_enabled), set())
        left = [line for line in kept[0].text.split("\n") if line in spam]
        assert len(left) == most_left if model_enabled else len(left) >= most_left
    assert stats.counters["lines.model"] == 10
    assert "南宁少儿英语培训一年多少钱" in stats.examples["lines.model"]


def test_coherence_keeps_a_subheading_and_drops_an_unrelated_title_of_the_same_shape():
    """Same shape (short, unpunctuated), different topic: only coherence with the page tells them apart."""
    article = body_lines("seo_zh")
    heading, unrelated = "老人食堂的送餐服务", "新款电动车续航测评"
    text = "\n".join(article[:4] + [heading] + article[4:6] + [unrelated] + article[6:])
    kept, _ = clean([text], LinesConfig(), set())
    lines = kept[0].text.split("\n")
    assert heading in lines and unrelated not in lines


def test_cleaned_page_passes_the_quality_filter():
    """Spam around a genuine article must never get the article's page removed downstream."""
    kept, _ = clean([page("seo_zh")], LinesConfig(), set())
    stats = StageStats("quality")
    assert QualityFilter(QualityConfig()).apply(kept[0], stats) is not None and not stats.removed


def test_train_command_writes_a_model_the_cleaner_loads(tmp_path):
    out = tmp_path / "model.json"
    from dataprep.cli import main
    assert main(["lines", "train", "--input", "data/sample/raw", "--output", str(out)]) == 0
    model = line_model.LineModel.load(out)
    assert set(model.weights) == {"zh", "en"}
    assert all(len(w) == len(line_model.FEATURES) + 1 for w in model.weights.values())
    kept, _ = clean([page("seo_zh")], LinesConfig(model=str(out)), set())
    assert [line for line in kept[0].text.split("\n") if line.strip()] == body_lines("seo_zh")


def test_shipped_model_is_small_and_matches_the_features():
    assert line_model.DEFAULT_MODEL.stat().st_size < 10_000
    assert line_model.LineModel.load().features == line_model.LineFeatureConfig()


def test_model_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="model_threshold"):
        load_config(LinesConfig, data={"model_threshold": 0})
    with pytest.raises(ConfigError, match="not found"):
        LineCleaner(LinesConfig(model=str(tmp_path / "missing.json")), set())


# ---- hard-wrapped text: the model judges paragraphs (blocks), not physical lines -------------

WRAPPED_ZH = [
    "去年秋天，街道把一处闲置的仓库改造成了社区食堂，主要为附近的老年人提供午餐和晚餐。食堂每天供应两荤两素一汤，"
    "六十岁以上的老人凭卡就餐还能享受优惠，不少独居老人从此不用再为做饭发愁。",
    "为了让饭菜更合老人的口味，食堂定期请居民代表试吃，根据大家的意见调整菜品的咸淡和软硬，还专门为患有糖尿病和"
    "高血压的老人准备了少油少盐的套餐。",
    "除了堂食，食堂还为行动不便的老人提供送餐上门服务，志愿者每天中午把饭菜送到老人家中，顺便看看老人的身体状况，"
    "遇到问题及时告诉社区工作人员。",
    "街道负责人表示，下一步将在另外两个社区开设食堂，并尝试引入社会力量参与运营，让更多老人在家门口吃上热乎饭，"
    "也让社区食堂能够长期办下去。",
]
WRAPPED_ZH_SPAM = ["首页 | 本地 | 民生 | 教育 | 房产", "合肥美容院哪家好", "南宁少儿英语培训机构前十强有哪些",
                   "南宁少儿英语培训一年多少钱", "第1篇：夏天吃西瓜的五大禁忌", "第2篇：工资卡被冻结怎么办",
                   "贵阳二手车回收价格怎么样", "七星彩第24056期开奖 3 8 1 6 0 2 9", "标签：社区 食堂 养老",
                   "版权所有 © 2024 城市生活网"]
WRAPPED_EN = [
    "Home is where the heart is, they say, and for the Okafor family home is a narrow boat on the Grand Union Canal. "
    "They bought the boat in 2019 after selling their flat in Birmingham, and have not looked back since, although "
    "the first winter on the water was harder than any of them expected.",
    "Share the load, says Grace, is the first rule on board: everyone empties the water tank, everyone takes a turn "
    "at the tiller and everyone cooks, even the youngest, who is nine and specialises in pancakes that the whole "
    "towpath seems to smell.",
    "Contact with the neighbours is easy when your neighbours moor ten feet away. In the summer the families along "
    "their stretch of the canal share tools, lifts to the shops and, on warm evenings, long dinners on the bank that "
    "carry on well after dark.",
]
WRAPPED_EN_SPAM = ["Home | News | Opinion | Sport | Culture | Sign in", "Share this article: Facebook Twitter Email",
                   "cheap roofing company Denver near me", "Powerball results 4 18 27 33 61 PB 9",
                   "divorce lawyer Seattle reviews 2024", "Copyright © 2024 Midlands Post. All rights reserved."]


def wrapped_page(lang: str) -> tuple[list[str], set[str]]:
    """A page whose article is hard-wrapped (zh at 30 characters = 60 columns, en at 60 columns),
    with spam lines between its paragraphs and around it: (lines, the spam lines)."""
    import textwrap
    paras, spam = (WRAPPED_ZH, WRAPPED_ZH_SPAM) if lang == "zh" else (WRAPPED_EN, WRAPPED_EN_SPAM)
    wrap = (lambda p: [p[i:i + 30] for i in range(0, len(p), 30)]) if lang == "zh" else (lambda p: textwrap.wrap(p, 60))
    lines = spam[:2] + ["社区食堂开到了家门口" if lang == "zh" else "Life on the water"]
    rest = spam[2:]
    for k, para in enumerate(paras):
        lines += wrap(para)
        for _ in range(2 if k % 2 == 0 else 1):
            if rest and k < len(paras) - 1:
                lines.append(rest.pop(0))
    return lines + rest, set(spam)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_hard_wrapped_prose_is_kept_and_spam_between_it_dropped(lang):
    lines, spam = wrapped_page(lang)
    body = [line for line in lines if line not in spam]
    assert sum(1 for line in body if not line.rstrip().endswith(("。", "."))) >= 6    # fragments, no sentence end
    kept, _ = clean(["\n".join(lines)], LinesConfig(), set())
    assert kept[0].text.split("\n") == body
    # judged line by line, fragments of the wrapped paragraphs go as if they were link titles
    kept, stats = clean(["\n".join(lines)], LinesConfig(blocks=False), set())
    lost = [line for line in body if line not in kept[0].text.split("\n")]
    assert lost and stats.counters["lines.model"] > len(spam) - 3


def test_blocks_join_wrapped_paragraphs_only():
    from dataprep.stages.lines import line_blocks
    cfg = LinesConfig()
    lines, spam = wrapped_page("en")
    units, owner = line_blocks(lines, classify_lines(lines, cfg), cfg)     # rule verdicts break blocks
    assert all(owner.count(owner[i]) == 1 for i, line in enumerate(lines) if line in spam)   # spam stands alone
    assert [u for u in units if u[:4] in ("Home", "Shar", "Cont")] == lines[:2] + WRAPPED_EN
    zh, _ = wrapped_page("zh")
    assert WRAPPED_ZH[2] in line_blocks(zh, [None] * len(zh), cfg)[0]                      # Han joined with no space
    # a web page: a paragraph per line, far wider than any wrap; nothing is joined
    web = page("seo_zh").split("\n")
    assert line_blocks(web, [None] * len(web), cfg)[1] == list(range(len(web)))
    # a flagged line (rule or corpus verdict) is never joined; an attribution goes with its quotation
    quote = ["Anyone who has never made a mistake has never tried anything", "new.", "-- Albert Einstein", "",
             "+------+", "│ a │ b │", "│ c │ d │"] + [WRAPPED_EN[1][:58]] * 3
    units, owner = line_blocks(quote, [None] * len(quote), cfg)
    assert owner[2] == owner[0] and units[owner[0]].endswith("new.")
    assert owner[5] == owner[6] != owner[4]
    flagged = [None, "nav"] + [None] * (len(quote) - 2)
    assert line_blocks(quote, flagged, cfg)[1][1] != line_blocks(quote, flagged, cfg)[1][0]


def test_site_notices_go_by_rule_and_articles_about_them_stay():
    cfg = LinesConfig(model_enabled=False)
    page = ["We use cookies to improve your experience. By continuing to browse you agree to our cookie policy.",
            "Subscribe to our newsletter for the week's best stories.",
            "Many websites use cookies to follow their readers, the study found.",
            "免责声明：本站部分内容来源于网络，如有侵权请联系删除。",
            "本站文章均来源于互联网，仅供学习参考。",
            "扫描二维码，关注我们的微信公众号",
            "他关注这个问题已经很多年了，直到今天才写成文章。"]
    assert classify_lines(page, cfg) == ["notice", "notice", None, "copyright", "notice", "notice", None]   # 如有侵权: footer rule first
