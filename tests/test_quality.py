"""Quality rules: the measurements, each Chinese and English rule on a document built to fail it,
and clean documents of both languages passing every rule."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from common.config import ConfigError, load_config
from dataprep.core import Document, StageStats
from dataprep.stages.quality import (ZH_STOP_WORDS, NGrams, QualityConfig, QualityFilter, dup_fractions,
                                     dup_ngram_frac, terminal_punct_frac, top_ngram_frac)

ZH_GOOD = """城市的夜晚总是来得很慢。傍晚六点，街道两旁的路灯一盏接一盏亮起来，下班的人们从地铁站里涌出，
有的人匆匆赶往菜市场，有的人在路边的小店里买一份热腾腾的晚饭。
老张在这条街上开了二十年的修鞋铺。他说，这些年城市变化很大，高楼一座座盖起来，老邻居一个个搬走了，
但总有人拿着磨坏的鞋子来找他。他觉得，手艺人最重要的是耐心和诚信。
每天收摊以后，他会在门口坐一会儿，看着来来往往的行人，听收音机里播放的新闻和戏曲。
他的女儿在外地读大学，学的是计算机专业。女儿常劝他早点退休，他却笑着说，只要还有人需要修鞋，他就不想关门。
对他来说，这间小小的铺子不仅是谋生的地方，也是和这座城市保持联系的方式。"""

EN_GOOD = """The river was low that summer, and the boats that usually crowded the harbour had moved
further down the coast. Most of the fishermen spent their mornings repairing nets on the quay.
My grandfather said that he had seen the water this low only once before, when he was a boy,
and that the town had survived it with patience and a good deal of complaining.
In the afternoons the children swam in the shallow pools that were left behind by the tide.
Nobody worried much about the future, because the rain always came back in the autumn."""


def run(texts, lang=None, cfg=None):
    stats = StageStats("quality")
    docs = [Document(str(i), t, meta={"lang": lang} if lang else {}) for i, t in enumerate(texts)]
    kept = list(QualityFilter(cfg or QualityConfig()).process(docs, stats))
    return kept, stats


def reason_of(text, lang=None, cfg=None):
    kept, stats = run([text], lang, cfg)
    return None if kept else stats.removals[0].reason


def test_measurements():
    assert dup_fractions(["ab", "cd", "ab", "ab"]) == (0.5, 4 / 8)
    # Gopher's definition: occurrences x n-gram length / all characters (overlaps counted twice)
    assert top_ngram_frac("abab", 2) == pytest.approx(2 * 2 / 4)
    assert top_ngram_frac(["a", "b", "a", "b"], 2) == pytest.approx(2 * 3 / 7)   # "a b" x2 over "a b a b"
    assert dup_ngram_frac("abcabc", 3) == pytest.approx(3 / 6)
    assert dup_ngram_frac("abcdef", 3) == 0.0
    assert terminal_punct_frac(["好。", "好", "“好。”", "ok!"]) == 0.75


def test_clean_documents_of_both_languages_pass():
    kept, stats = run([ZH_GOOD, EN_GOOD])
    assert len(kept) == 2, [r.reason for r in stats.removals]
    assert [d.meta["lang"] for d in kept] == ["zh", "en"]
    assert stats.counters["lang.zh"] == 1 and stats.counters["lang.en"] == 1


@pytest.mark.parametrize("text,reason", [
    ("今天天气很好，我们去公园散步了。", "too_short"),
    ("中文" + " the quick brown fox jumps over it" * 20, "low_han_ratio"),
    ("".join(c for c in ZH_GOOD if c not in ZH_STOP_WORDS), "few_stop_words"),
    (ZH_GOOD.replace("。", "★★★★★。"), "symbol_ratio"),
    (ZH_GOOD + "\n" + "\n".join("的 2023 1024 8848 65536 99999 31415 27182 16180 14142" for _ in range(12)),
     "digit_ratio"),
    ("\n".join(ZH_GOOD.replace("\n", "").replace("，", "。").split("。")), "short_lines"),
    (ZH_GOOD.replace("。\n", "\n").replace("。", "，"), "few_terminal_punct"),
    (ZH_GOOD + "\n" + "\n".join(["欢迎关注我们的公众号，每天更新精彩内容。"] * 8), "dup_line_frac"),
    ("，".join(["最有效的减肥方法"] * 30 + ["这是我们的年度推荐"]) + "。", "top_4char_frac"),
    (ZH_GOOD + "\n" + ZH_GOOD.replace("\n", "").replace("。", "！"), "dup_10char_frac"),
])
def test_chinese_rules(text, reason):
    assert reason_of(text, "zh") == reason


@pytest.mark.parametrize("text,reason", [
    ("Short note: the meeting moved to Friday.", "too_few_words"),
    (" ".join(["internationalisation-compatibility"] * 60) + " the and of.", "mean_word_length"),
    (EN_GOOD + " " + " ".join(["12:30", "--", "4.5", "=>", "%%"] * 40), "low_alpha_words"),
    (" ".join(["Sales", "figures", "rose", "sharply", "this", "quarter."] * 12), "few_stop_words"),
    (EN_GOOD + "\n" + "More #news and #views ... #today." * 5, "symbol_ratio"),
    (EN_GOOD.replace(".", "").replace(",", ""), "few_terminal_punct"),
    (EN_GOOD + "\n" + "\n".join(["Click here to subscribe to our newsletter."] * 6), "dup_line_frac"),
    (" ".join(["cheap flights"] * 40) + " to the city of London.", "top_2gram_frac"),
])
def test_english_rules(text, reason):
    assert reason_of(text, "en") == reason


def test_first_failing_reason_is_recorded_once():
    # too short AND no stop words AND no terminal punctuation: only the first rule is reported
    kept, stats = run(["春花秋月何时了"], "zh")
    assert not kept and stats.removed == {"too_short": 1} and len(stats.removals) == 1


def test_language_detected_when_not_tagged_and_other_languages():
    assert reason_of("Ein kurzer Satz.") == "too_few_words"        # Latin script -> English rules
    assert reason_of("12345 67890 !!! ???") == "other_language"
    assert reason_of("12345 67890 !!! ???", cfg=QualityConfig(drop_other_languages=False)) is None


def test_thresholds_are_configurable_and_validated():
    cfg = load_config(QualityConfig, overrides=["zh.min_chars=10"])
    assert reason_of("今天的天气很好，我们在公园散步了。", "zh", cfg) is None
    with pytest.raises(ConfigError, match="n-gram size"):
        load_config(QualityConfig, data={"en": {"dup_ngram_max": {5: 1.5}}})


def test_short_documents_deferred_to_the_learned_score():
    """defer_short keeps a short doc that passes the other rules (tagged short_doc), still drops a
    short doc another rule catches, one under the floor, and validates short_skip."""
    defer = QualityConfig(defer_short=True)
    kept, stats = run(["Short note: the meeting moved to Friday", "今天的天气很好，我们在公园散步了。"], cfg=defer)
    assert [d.meta.get("short_doc") for d in kept] == [True, True] and stats.counters["short_doc_deferred"] == 2
    assert reason_of("Short note: the meeting moved to Friday", "en") == "too_few_words"   # off by default
    assert reason_of("★★★ ★★★ ★★★ 好的。", "zh", defer) == "symbol_ratio"
    assert reason_of("Hi there", "en", defer) == "too_few_words"                          # under min_words_short
    assert reason_of("Short note: the meeting moved to Friday", "en",
                     QualityConfig(defer_short=True, short_skip=[])) == "few_terminal_punct"
    with pytest.raises(ConfigError, match="short_skip"):
        load_config(QualityConfig, data={"short_skip": ["too_short"]})


def test_short_documents_skip_the_top_ngram_rules_but_not_duplicated_lines():
    """Gopher's top-n-gram shares cannot judge 20 words: a saying that repeats its subject is kept
    as a short document; with top_ngram_frac taken out of short_skip it is removed by a top_* rule.
    Repeated lines are still caught in short documents."""
    saying = "Each language has its purpose. Each language has its place. Each language has its day."
    defer = QualityConfig(defer_short=True)
    assert reason_of(saying, "en", defer) is None
    assert reason_of(saying, "en", QualityConfig(defer_short=True, short_skip=["few_stop_words"])).startswith("top_")
    assert reason_of("\n".join(["Buy cheap watches online today."] * 6), "en", defer) == "dup_line_frac"
    assert load_config(QualityConfig, data={"short_skip": ["top_ngram_frac"]}).short_skip == ["top_ngram_frac"]


def test_one_line_has_no_line_shape():
    """short_lines (mean line length) judges line shape, which one line does not have: a one-line
    poem is left to the length rules; several short lines (a menu) still fail."""
    defer = QualityConfig(defer_short=True)
    assert reason_of("今古恨，一搔首。", "zh", defer) is None
    assert reason_of("首页\n新闻\n产品\n联系我们\n关于", "zh", defer) == "short_lines"


def test_han_ratio_does_not_count_paths_and_commands():
    """A Chinese manual paragraph quoting paths and shell commands stays Chinese for the Han-ratio
    rule; English prose with a few Han characters still fails it."""
    manual = ("如果你的家目录已经满了并且邮件投递失败了，你需要从 /var/mail/<username> 目录手动投递邮件到家目录下"
              "已经分类好的邮箱中。家目录有空闲空间以后，先运行 /etc/init.d/${MAILDAEMON} stop 停止服务，"
              "再用 formail -s procmail </var/mail/<username> 逐封投递，最后运行 /etc/init.d/${MAILDAEMON} start "
              "重新启动服务。完成以后请检查 ~/.procmailrc 的规则是否正确，并确认 /var/log/mail.log 里没有新的错误。"
              "如果问题仍然存在，可以在邮件列表里提问，附上日志中相关的几行内容，这样别人更容易帮你找到原因。")
    assert reason_of(manual, "zh") is None
    assert reason_of("这是 " + EN_GOOD, "zh") == "low_han_ratio"


def _grams(units, n):
    return [units[i:i + n] if isinstance(units, str) else " ".join(units[i:i + n]) for i in range(len(units) - n + 1)]


def _top_by_strings(units, n):
    """Gopher's top n-gram share written over n-gram strings: the oracle for NGrams.top_frac."""
    grams, total = _grams(units, n), len(units) if isinstance(units, str) else len(" ".join(units))
    if not grams:
        return 0.0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count / total if count > 1 else 0.0


def _dup_by_strings(units, n):
    """Gopher's duplicated n-gram share over n-gram strings: the oracle for NGrams.dup_frac."""
    grams, total = _grams(units, n), len(units) if isinstance(units, str) else len(" ".join(units))
    seen, repeated, i = set(), 0, 0
    while i < len(grams):
        if grams[i] in seen:
            repeated, i = repeated + len(grams[i]), i + n
        else:
            seen.add(grams[i])
            i += 1
    return repeated / total if grams else 0.0


def test_vectorised_ngram_shares_equal_the_string_definitions():
    """NGrams groups id windows with numpy; on repetitive random texts (where ties, overlaps and
    the walk's jumps matter) and real ones it gives exactly the string definitions' values."""
    rng = random.Random(0)
    texts = ["".join(rng.choice("ab的了") for _ in range(rng.randint(0, 80))) for _ in range(150)]
    texts += [" ".join(rng.choice(["a", "bb", "ccc", "the", "of"]) for _ in range(rng.randint(0, 60))) for _ in range(150)]
    texts += [ZH_GOOD, EN_GOOD, ZH_GOOD * 2, (EN_GOOD + "\n") * 3]
    for text in texts:
        for units in ("".join(text.split()), text.split()):
            grams = NGrams(units)
            for n in (1, 2, 3, 4, 6, 10, 20):
                assert grams.top_frac(n) == pytest.approx(_top_by_strings(units, n), abs=1e-12), (units, n)
                assert grams.dup_frac(n) == pytest.approx(_dup_by_strings(units, n), abs=1e-12), (units, n)
