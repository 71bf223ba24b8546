"""Held-out near-duplicate set (issue 14): a second, independently written generator of reposts.

Written without reading bench_neardup.py's generator, to check the MinHash settings
(`MinHashConfig()` defaults) on reposts they were not tuned on. Real text only: the sample's
real records (`noise` null: English fortunes + Botchan, Chinese fortunes-zh) and the Debian
Reference / FAQ / maint-guide prose in data/reference (en and zh).

Per language, `--per-kind` originals (half sample, half reference) each get one copy per edit
kind below; the rest of the real documents stay in the corpus as distractors. Hard negatives:
(a) different short articles (150-600 chars, from documents not used elsewhere) wrapped in the
same site chrome (title + nav line, footer links, copyright), every page of a site against every
other; (b) pairs of different documents that quote the same long passage (250-400 chars).

The project's own path, as the runner runs it (tests/test_dataprep_dedup.py `cluster_roots`):
`minhash.signatures(...)`, `band_params`, `lsh_clusters(...).roots()`, `MinHashConfig()`.
Two runs on the same signatures: per kind (LSH over all real documents + hard negatives + that
kind's copies only, so a copy cannot reach its original through a copy of another kind) and one
with everything at once (the whole corpus, as a dedup run would see it).

Measures: cluster recall (a copy ends in its original's cluster), precision (removed documents
whose kept document is of their own family), hard-negative pages removed, distinct real documents
removed (a real document merged into a different real document's cluster). For copies that were
missed, the true Jaccard with the original under our shingles.

    .venv/bin/python benchmarks/neardup_heldout.py [--per-kind 80] [--seed 14]
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import gzip
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from dataprep.config import MinHashConfig  # noqa: E402
from dataprep.stages import minhash  # noqa: E402
from sample_corpus import sample_documents  # noqa: E402

HAN_CH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

# ---- real text -----------------------------------------------------------------------------------


def real_texts() -> dict[str, list[tuple[str, str]]]:
    """{lang: [(origin, text)]} of real documents of at least 300 characters, in corpus order."""
    out: dict[str, list[tuple[str, str]]] = {"en": [], "zh": []}
    for doc in sample_documents():
        if doc.meta.get("noise") is None and len(doc.text) >= 300:
            lang = "zh" if doc.meta["origin"].startswith("fortunes-zh") else "en"
            out[lang].append(("sample:" + doc.meta["origin"], doc.text))
    for path in sorted((ROOT / "data" / "reference").glob("*.jsonl.gz")):
        lang = "zh" if "-zh" in path.name else "en"
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if len(rec["text"]) >= 300:
                    out[lang].append(("ref:" + rec["origin"], rec["text"]))
    return out


def screen(texts: list[tuple[str, str]], mh: MinHashConfig, limit: float = 0.3) -> tuple[list, list]:
    """The real documents split into distinct ones and those with estimated Jaccard >= `limit` to an
    earlier kept one (the sources hold some near-duplicates of their own: the same fortune in two
    files, FAQ answers copied into the Reference); only distinct ones are used."""
    sig, valid = minhash.signatures([t for _, t in texts], mh.num_perm, mh.seed, mh.han_ngram, mh.word_ngram,
                                    mh.batch_size, mh.latin_char_ngram)
    keep, dropped = [], []
    for i in range(len(texts)):
        if not valid[i]:
            continue
        if keep and float((sig[keep] == sig[i]).mean(axis=1).max()) >= limit:
            dropped.append(texts[i])
        else:
            keep.append(i)
    return [texts[i] for i in keep], dropped


# ---- edits ---------------------------------------------------------------------------------------

EN_FILLER = ("the", "a", "very", "just", "also", "really", "then", "that", "new", "of", "in", "we",
             "quite", "still", "some", "only", "now", "and")
ZH_FILLER = "的了是在不有这我他们也就都说要会对着到而和与其"
SITES = {
    "en": [("The Riverside Gazette - local news since 1987",
            "Home | World | Business | Technology | Science | Opinion | Contact",
            "About us - Advertise - Privacy policy - Terms of use",
            "(c) 2024 Riverside Media Group. All rights reserved."),
           ("TechDaily", "News | Reviews | How-to | Deals | Forum",
            "Subscribe to our newsletter | RSS", "Copyright 2023 TechDaily Inc."),
           ("Morning Post Online", "Home | Local | National | Sports | Weather | Jobs | Classifieds",
            "Share this article: Facebook Twitter Email Print",
            "Copyright 2025 Morning Post Online. Reproduction without permission is prohibited.")],
    "zh": [("江南日报 网络版", "首页 | 新闻 | 财经 | 科技 | 体育 | 娱乐 | 汽车 | 房产 | 教育",
            "关于我们 | 联系我们 | 广告服务 | 网站地图 | 隐私政策",
            "版权所有 © 2024 江南日报社 未经授权禁止转载 京ICP备12345678号"),
           ("科技快讯", "首页 | 资讯 | 评测 | 论坛 | 下载",
            "扫码关注我们的公众号", "Copyright © 2023 科技快讯 All Rights Reserved"),
           ("北方晨报", "首页 | 本地 | 国内 | 国际 | 体育 | 天气 | 招聘",
            "分享到：微信 微博 QQ空间 打印本页", "本网站所刊登的各种新闻、信息均属北方晨报所有，未经协议授权禁止下载使用。")],
}
HEAVY = {    # a portal with heavy chrome (en ~560, zh ~380 characters), reported apart
    "en": ("Greater Valley News Network - Your trusted source for local news, weather and sports",
           "Home | Local | State | National | World | Business | Tech | Health | Entertainment | Sports | Weather"
           " | Obituaries | Classifieds | Jobs | Real Estate | Autos | Contact Us",
           "Related: Top stories | Most read | Editor's picks | Newsletters | Podcasts | Events calendar",
           "Copyright 2024 Greater Valley News Network LLC. All rights reserved. This material may not be "
           "published, broadcast, rewritten or redistributed. Privacy Policy | Terms of Service | Cookie settings"),
    "zh": ("华夏资讯网 —— 权威新闻 实时资讯 深度报道 尽在华夏资讯网",
           "首页 | 新闻中心 | 国内 | 国际 | 社会 | 财经 | 股票 | 基金 | 科技 | 手机 | 汽车 | 房产 | 家居 | 教育 | 健康"
           " | 旅游 | 体育 | 娱乐 | 时尚 | 文化 | 读书 | 视频 | 图片 | 论坛 | 博客",
           "相关阅读：今日头条 | 热点排行 | 编辑推荐 | 精彩专题 | 网友评论 | 客户端下载 | 关注官方微博 | 扫码关注微信公众号",
           "版权所有 © 2004-2024 华夏资讯网 All Rights Reserved 未经书面授权禁止转载、摘编、复制或建立镜像 "
           "违法和不良信息举报电话：010-12345678 举报邮箱：jubao@example.com 京ICP证000000号 京公网安备11000002000001号"),
}
SOURCE_LINES = {
    "en": ["Source: The Riverside Gazette | Edited by Tom Chen", "Source: Reuters | Edited by Anna Park",
           "Source: community mailing list | Edited by J. Smith"],
    "zh": ["来源：新华网 责任编辑：王小明", "来源：人民网-科技频道 责任编辑：李华", "来源：网络 编辑：张伟"],
}


def units(text: str, lang: str) -> list[str]:
    """Editable units: words (en) or characters with Han characters as units (zh)."""
    return text.split(" ") if lang == "en" else list(text)


def join_units(us: list[str], lang: str) -> str:
    return " ".join(us) if lang == "en" else "".join(us)


def edit_rate(text: str, lang: str, rate: float, rng: random.Random) -> str:
    """`rate` of the units substituted, inserted after or deleted (a third each, at random)."""
    us = units(text, lang)
    if lang == "en":
        idx = [i for i, u in enumerate(us) if re.search(r"[A-Za-z]", u)]
    else:
        idx = [i for i, u in enumerate(us) if HAN_CH.match(u)]
    if lang == "zh" and len(idx) < 0.3 * len(us):      # a zh doc that is mostly Latin: edit words too
        return edit_rate(text, "en", rate, rng)
    k = max(1, round(rate * len(idx)))
    for i in sorted(rng.sample(idx, min(k, len(idx))), reverse=True):
        op = rng.choice(("sub", "ins", "del"))
        new = rng.choice(EN_FILLER) if lang == "en" else rng.choice(ZH_FILLER)
        if op == "sub":
            tail = re.search(r"[^\w]*$", us[i]).group() if lang == "en" else ""
            us[i] = new + tail
        elif op == "ins":
            us.insert(i + 1, new)
        else:
            us[i] = ""
    out = join_units(us, lang)
    return re.sub(r" {2,}", " ", out) if lang == "en" else out


def typos(text: str, lang: str, rng: random.Random, rate: float = 0.05) -> str:
    """Swapped / dropped / doubled letters in `rate` of the words; zh: adjacent Han characters
    swapped, dropped or doubled at `rate` of Han positions (and Latin words as en)."""
    def word_typo(w: str) -> str:
        letters = [i for i, c in enumerate(w) if c.isalpha()]
        if len(letters) < 3:
            return w
        op = rng.choice(("swap", "drop", "double"))
        j = rng.choice(letters[:-1])
        if op == "swap":
            return w[:j] + w[j + 1] + w[j] + w[j + 2:]
        return w[:j] + w[j + 1:] if op == "drop" else w[:j] + w[j] + w[j:]

    if lang == "en":
        ws = text.split(" ")
        for i in rng.sample(range(len(ws)), max(1, round(rate * len(ws)))):
            ws[i] = word_typo(ws[i])
        return " ".join(ws)
    cs = list(text)
    han = [i for i, c in enumerate(cs) if HAN_CH.match(c)]
    for i in rng.sample(han, min(len(han), max(1, round(rate * len(han))))):
        op = rng.choice(("swap", "drop", "double"))
        if op == "swap" and i + 1 < len(cs) and HAN_CH.match(cs[i + 1]):
            cs[i], cs[i + 1] = cs[i + 1], cs[i]
        elif op == "drop":
            cs[i] = ""
        else:
            cs[i] = cs[i] * 2
    return re.sub(r"[A-Za-z]{4,}", lambda m: word_typo(m.group()) if rng.random() < rate else m.group(),
                  "".join(cs))


def rewrap(text: str, lang: str, rng: random.Random) -> str:
    """Lines joined and re-broken at another width (paragraph breaks kept)."""
    width = rng.choice((50, 66, 72)) if lang == "en" else rng.choice((20, 28, 36))
    out = []
    for para in re.split(r"\n\s*\n", text):
        flat = re.sub(r"\s*\n\s*", " " if lang == "en" else "", para.strip())
        if lang == "en":
            lines, cur = [], ""
            for w in flat.split():
                if cur and len(cur) + 1 + len(w) > width:
                    lines.append(cur)
                    cur = w
                else:
                    cur = f"{cur} {w}" if cur else w
            lines.append(cur)
        else:
            lines = [flat[i:i + width] for i in range(0, len(flat), width)]
        out.append("\n".join(lines))
    return "\n\n".join(out)


def quotes(text: str, lang: str, rng: random.Random) -> str:
    """Straight quotes -> curly and curly -> straight; zh: “” -> 「」, ‘’ -> 『』."""
    if lang == "zh":
        t = text.replace("\u201c", "「").replace("\u201d", "」").replace("\u2018", "『").replace("\u2019", "』")
        return re.sub(r'"([^"\n]*)"', "「\\1」", t)
    if re.search("[\u201c\u201d\u2018\u2019]", text):
        return text.translate(str.maketrans("\u201c\u201d\u2018\u2019", "\"\"''"))
    t = re.sub(r'"([^"]*)"', "\u201c\\1\u201d", text)
    return re.sub(r"(\w)'(\w)", "\\1\u2019\\2", t).replace(" '", " \u2018").replace("'", "\u2019")


def width(text: str, lang: str, rng: random.Random) -> str:
    """en: ASCII letters, digits and punctuation -> full-width forms (a CJK-IME repost);
    zh: full-width CJK punctuation -> half-width, ASCII letters and digits -> full-width."""
    to_full = {c: chr(c - 0x21 + 0xFF01) for c in range(0x21, 0x7F)}
    if lang == "en":
        return text.translate(to_full)
    t = text.translate(str.maketrans("，。：；！？（）", ",.:;!?()"))
    return t.translate({c: chr(c - 0x21 + 0xFF01) for c in range(0x21, 0x7F) if chr(c).isalnum()})


def paragraphs(text: str, lang: str) -> tuple[list[str], str]:
    """The text's paragraphs (blank-line, else line, else sentence split) and their separator."""
    for sep in ("\n\n", "\n"):
        ps = [p for p in text.split(sep) if p.strip()]
        if len(ps) >= 3:
            return ps, sep
    ps = [s for s in re.split(r"(?<=[.!?。！？])\s*", text) if s.strip()]
    return ps, (" " if lang == "en" else "")


def move_para(text: str, lang: str, rng: random.Random) -> str:
    ps, sep = paragraphs(text, lang)
    if len(ps) < 2:
        return text
    i = rng.randrange(len(ps))
    p = ps.pop(i)
    j = rng.choice([k for k in range(len(ps) + 1) if k != i] or [0])
    ps.insert(j, p)
    return sep.join(ps)


def drop_para(text: str, lang: str, rng: random.Random) -> str:
    """One paragraph of at most a quarter of the text dropped (the shortest if none is)."""
    ps, sep = paragraphs(text, lang)
    if len(ps) < 2:
        return text
    small = [i for i, p in enumerate(ps) if len(p) <= 0.25 * len(text)]
    i = rng.choice(small) if small else min(range(len(ps)), key=lambda k: len(ps[k]))
    return sep.join(p for k, p in enumerate(ps) if k != i)


def source_line(text: str, lang: str, rng: random.Random) -> str:
    line = rng.choice(SOURCE_LINES[lang])
    return f"{line}\n\n{text}" if rng.random() < 0.5 else f"{text}\n\n{line}"


def truncate80(text: str, lang: str, rng: random.Random) -> str:
    cut = int(0.8 * len(text))
    if lang == "en":
        sp = text.rfind(" ", 0, cut)
        cut = sp if sp > 0.7 * len(text) else cut
    return text[:cut] + ("..." if lang == "en" else "……")


def site_page(article: str, site: tuple[str, str, str, str], day: int, lang: str) -> str:
    title, nav, footer, copyright_ = site
    date = f"2024-03-{day:02d}" if lang == "en" else f"2024年3月{day}日"
    return f"{title}\n{nav}\n{date}\n\n{article}\n\n{footer}\n{copyright_}"


def chrome(text: str, lang: str, rng: random.Random) -> str:
    return site_page(text, rng.choice(SITES[lang]), rng.randrange(1, 29), lang)


def combo(text: str, lang: str, rng: random.Random) -> str:
    """A typical repost: 5% edits, typos, re-wrapped, curly quotes, source line, site chrome."""
    t = edit_rate(text, lang, 0.05, rng)
    t = typos(t, lang, rng, 0.02)
    t = quotes(rewrap(t, lang, rng), lang, rng)
    return chrome(source_line(t, lang, rng), lang, rng)


KINDS = {
    "edit 2%": lambda t, l, r: edit_rate(t, l, 0.02, r),
    "edit 5%": lambda t, l, r: edit_rate(t, l, 0.05, r),
    "edit 10%": lambda t, l, r: edit_rate(t, l, 0.10, r),
    "typos 5%": typos,
    "re-wrapped lines": rewrap,
    "quotes curly/straight": quotes,
    "full/half width": width,
    "moved paragraph": move_para,
    "dropped paragraph": drop_para,
    "source/editor line": source_line,
    "truncated to 80%": truncate80,
    "site header+footer": chrome,
    "10% edits + source line": lambda t, l, r: source_line(edit_rate(t, l, 0.10, r), l, r),
    "combined repost": combo,
}

# ---- the set -------------------------------------------------------------------------------------


class Corpus:
    def __init__(self):
        self.texts: list[str] = []
        self.lang: list[str] = []
        self.role: list[str] = []        # real / copy / hardneg-site / hardneg-quote
        self.kind: list[str] = []
        self.family: list[int] = []      # copies: the original's index; others: their own

    def add(self, text: str, lang: str, role: str, kind: str = "", family: int | None = None) -> int:
        i = len(self.texts)
        self.texts.append(text)
        self.lang.append(lang)
        self.role.append(role)
        self.kind.append(kind)
        self.family.append(i if family is None else family)
        return i


def short_articles(docs: list[str], lang: str, n: int, rng: random.Random) -> list[str]:
    """n short articles of 150-600 chars: leading paragraphs of distinct documents."""
    out = []
    for text in docs:
        ps, sep = paragraphs(text, lang)
        art = ""
        for p in ps:
            if len(art) + len(p) > 600:
                break
            art = f"{art}{sep}{p}" if art else p
        if len(art) < 150:
            art = text[:rng.randint(150, 600)]
        if 150 <= len(art) <= 600:
            out.append(art.strip())
        if len(out) == n:
            break
    return out


def build(per_kind: int, seed: int) -> tuple[Corpus, dict]:
    rng = random.Random(seed)
    corpus = Corpus()
    info: dict = {}
    for lang, docs in real_texts().items():
        docs, dup = screen(docs, MinHashConfig())
        rng.shuffle(docs)
        sample = [d for d in docs if d[0].startswith("sample:")]
        ref = [d for d in docs if d[0].startswith("ref:")]
        half = per_kind // 2
        originals = sample[:half] + ref[:per_kind - half]
        # hard-negative material from documents used nowhere else
        spare = [t for _, t in sample[half:half + 120] + ref[per_kind - half:per_kind - half + 120]]
        rng.shuffle(spare)
        n_sites = len(SITES[lang])
        arts = short_articles(spare[:80], lang, 8 * n_sites + 8, rng)
        quote_src = spare[80:120]
        rest = sample[half + 120:] + ref[per_kind - half + 120:]
        orig_idx = [corpus.add(t, lang, "real", "original") for _, t in originals]
        for _, t in rest:
            corpus.add(t, lang, "real", "distractor")
        for s, site in enumerate(SITES[lang]):
            for d, art in enumerate(arts[s:8 * n_sites:n_sites]):
                corpus.add(site_page(art, site, d + 1, lang), lang, "hardneg-site", f"site {s + 1}")
        for d, art in enumerate(arts[8 * n_sites:]):
            corpus.add(site_page(art, HEAVY[lang], d + 1, lang), lang, "hardneg-heavy", "heavy-chrome site")
        nq = 0
        for k in range(0, len(quote_src) - 3, 4):      # two documents quote the passage of a third
            q = quote_src[k + 2]
            qs = rng.randrange(0, max(1, len(q) - 400))
            quote = q[qs:qs + rng.randint(250, 400)]
            for host in (quote_src[k], quote_src[k + 1]):
                host = host[:1200]
                cut = len(host) // 2
                lead = "He wrote:" if lang == "en" else "正如文中所说："
                corpus.add(f"{host[:cut]}\n\n{lead} \u201c{quote}\u201d\n\n{host[cut:]}", lang,
                           "hardneg-quote", "shared quotation")
            nq += 1
        for kind, fn in KINDS.items():
            for o in orig_idx:
                corpus.add(fn(corpus.texts[o], lang, rng), lang, "copy", kind, family=o)
        info[lang] = dict(originals=len(orig_idx), distractors=len(rest), site_pages=8 * n_sites,
                          heavy_pages=len(arts) - 8 * n_sites, screened_out=len(dup),
                          article_chars=(min(map(len, arts)), max(map(len, arts))),
                          quote_pairs=nq)
    return corpus, info


# ---- measure -------------------------------------------------------------------------------------


def run_lsh(store, alive: np.ndarray, mh: MinHashConfig) -> np.ndarray:
    bands, rows = minhash.band_params(mh.threshold, mh.num_perm, mh.false_positive_weight, mh.false_negative_weight)
    return minhash.lsh_clusters(store, alive, mh.threshold, bands, rows).roots()


def true_jaccard(a: str, b: str, mh: MinHashConfig) -> float:
    sa = set(minhash.shingles(a, mh.han_ngram, mh.word_ngram, mh.latin_char_ngram))
    sb = set(minhash.shingles(b, mh.han_ngram, mh.word_ngram, mh.latin_char_ngram))
    return len(sa & sb) / max(1, len(sa | sb))


def score(c: Corpus, roots: np.ndarray, alive: np.ndarray) -> dict:
    """Counts per language over the `alive` documents."""
    fam = np.array(c.family)
    out = {}
    for lang in ("en", "zh"):
        heavy = [i for i in alive.tolist() if c.lang[i] == lang and c.role[i] == "hardneg-heavy"]
        idx = [i for i in alive.tolist() if c.lang[i] == lang and c.role[i] != "hardneg-heavy"]
        removed = [i for i in idx if roots[i] != i]
        correct = [i for i in removed if fam[roots[i]] == fam[i]]
        copies = [i for i in idx if c.role[i] == "copy"]
        found = [i for i in copies if roots[i] == roots[fam[i]]]
        hn = [i for i in idx if c.role[i].startswith("hardneg")]
        real = [i for i in idx if c.role[i] == "real"]
        out[lang] = dict(copies=len(copies), found=len(found), removed=len(removed), correct=len(correct),
                         hardneg=len(hn), hardneg_removed=sum(roots[i] != i for i in hn),
                         heavy=len(heavy), heavy_removed=sum(roots[i] != i for i in heavy),
                         real=len(real), real_removed=sum(roots[i] != i for i in real),
                         missed=[i for i in copies if roots[i] != roots[fam[i]]],
                         wrong=[i for i in removed if fam[roots[i]] != fam[i]])
    return out


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor() or "?") if Path("/proc/cpuinfo").exists() \
        else platform.processor() or "?"
    return f"{platform.node() or 'unknown'} ({cpu}, {os.cpu_count()} cores, Python {platform.python_version()})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-kind", type=int, default=80, help="originals per language (one copy each per kind)")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--threshold", type=float, help="override MinHashConfig.threshold (exploration only)")
    ap.add_argument("--latin-char-ngram", type=int, help="override MinHashConfig.latin_char_ngram (exploration only)")
    ap.add_argument("--num-perm", type=int, help="override MinHashConfig.num_perm (exploration only)")
    args = ap.parse_args()
    mh = MinHashConfig()
    if args.num_perm is not None:
        mh = dataclasses.replace(mh, num_perm=args.num_perm)
    if args.threshold is not None:
        mh = dataclasses.replace(mh, threshold=args.threshold)
    if args.latin_char_ngram is not None:
        mh = dataclasses.replace(mh, latin_char_ngram=args.latin_char_ngram)
    t0 = time.perf_counter()
    c, info = build(args.per_kind, args.seed)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    sig, valid = minhash.signatures(c.texts, mh.num_perm, mh.seed, mh.han_ngram, mh.word_ngram, mh.batch_size,
                                    mh.latin_char_ngram)
    t_sig = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "sig.npy", sig)
        store = minhash.SignatureStore([Path(tmp) / "sig.npy"])
        base = np.array([i for i in range(len(c.texts)) if c.role[i] != "copy"])
        per_kind = {}
        t0 = time.perf_counter()
        for kind in KINDS:
            alive = np.sort(np.concatenate([base, [i for i in range(len(c.texts)) if c.kind[i] == kind]]))
            alive = alive[valid[alive]].astype(np.int64)
            per_kind[kind] = (score(c, run_lsh(store, alive, mh), alive), None)
        alive_all = np.flatnonzero(valid)
        roots_all = run_lsh(store, alive_all, mh)
        t_lsh = time.perf_counter() - t0
        whole = score(c, roots_all, alive_all)
    bands, rows = minhash.band_params(mh.threshold, mh.num_perm, mh.false_positive_weight, mh.false_negative_weight)

    cmd = "python benchmarks/neardup_heldout.py" + "".join(
        f" {a}" for a in sys.argv[1:])
    print("## Near-duplicates: held-out set (benchmarks/neardup_heldout.py)\n")
    print(f"`{cmd}` on {machine()}, {datetime.date.today().isoformat()}; seed {args.seed}.\n")
    label = "`MinHashConfig()` defaults" if (args.threshold, args.latin_char_ngram, args.num_perm) == (None,) * 3 else "OVERRIDDEN (exploration)"
    print(f"Settings: {label}: Han {mh.han_ngram}-grams, Latin char {mh.latin_char_ngram}-grams, "
          f"{mh.num_perm} permutations, threshold {mh.threshold}, LSH {bands} bands x {rows} rows.\n")
    print(f"Corpus: {len(c.texts)} documents, {sum(len(t) for t in c.texts) / 1e6:.1f} M characters. "
          f"Build {t_build:.1f} s, signatures {t_sig:.1f} s, LSH ({len(KINDS) + 1} runs) {t_lsh:.1f} s.\n")
    for lang in ("en", "zh"):
        i = info[lang]
        print(f"- {lang}: {i['originals']} originals x {len(KINDS)} kinds = {i['originals'] * len(KINDS)} copies; "
              f"{i['distractors']} further real documents; {i['site_pages']} site-chrome pages "
              f"({len(SITES[lang])} sites) + {i['heavy_pages']} on a heavy-chrome portal; articles "
              f"{i['article_chars'][0]}-{i['article_chars'][1]} chars; {i['quote_pairs']} pairs sharing a quotation; "
              f"{i['screened_out']} real documents left out as near-duplicates (estimated J >= 0.3) of another "
              f"real one in the sources")
    print()
    print("Per kind (LSH over all real documents + hard negatives + that kind's copies):\n")
    print("Recall: copies found in their original's cluster (copies identical to the original, where the "
          "edit had nothing to act on, in brackets after the kind; they count as found).\n")
    print("| kind | en recall | en true J min / median | en missed (true J) | zh recall | zh true J min / median "
          "| zh missed (true J) |")
    print("|---|---:|---|---|---:|---|---|")
    fails = []
    for kind, (s, _) in per_kind.items():
        cells = []
        for lang in ("en", "zh"):
            r = s[lang]
            js = sorted(true_jaccard(c.texts[c.family[m]], c.texts[m], mh) for m in r["missed"])
            fails += [(lang, kind, m) for m in r["missed"]]
            allj = [true_jaccard(c.texts[c.family[i]], c.texts[i], mh) for i in range(len(c.texts))
                    if c.kind[i] == kind and c.lang[i] == lang and c.role[i] == "copy"]
            cells += [f"{r['found'] / max(1, r['copies']):.3f} ({r['found']}/{r['copies']})",
                      f"{min(allj):.2f} / {float(np.median(allj)):.2f}",
                      ", ".join(f"{j:.2f}" for j in js[:6]) + (" ..." if len(js) > 6 else "") or "-"]
        same = {lang: sum(1 for i in range(len(c.texts)) if c.kind[i] == kind and c.lang[i] == lang
                          and c.role[i] == "copy" and c.texts[i] == c.texts[c.family[i]]) for lang in ("en", "zh")}
        tag = f" (identical: en {same['en']}, zh {same['zh']})" if any(same.values()) else ""
        print(f"| {kind}{tag} | " + " | ".join(cells) + " |")
    print()
    print("Cluster recall by the original's length, all kinds pooled (per-kind runs):\n")
    print("| lang | < 500 chars | 500-1000 | >= 1000 |")
    print("|---|---:|---:|---:|")
    for lang in ("en", "zh"):
        tot, hit = defaultdict(int), defaultdict(int)
        for s, _ in per_kind.values():
            missed = set(s[lang]["missed"])
            for i in range(len(c.texts)):
                if c.lang[i] == lang and c.role[i] == "copy" and c.kind[i] == next(k for k in per_kind if per_kind[k][0] is s):
                    n = len(c.texts[c.family[i]])
                    b = 0 if n < 500 else 1 if n < 1000 else 2
                    tot[b] += 1
                    hit[b] += i not in missed
        print(f"| {lang} | " + " | ".join(f"{hit[b] / max(1, tot[b]):.3f} ({hit[b]}/{tot[b]})" for b in range(3)) + " |")
    print()
    print("Per language, per-kind runs pooled, and the whole corpus in one run:\n")
    print("| lang | run | cluster recall | precision | hard negatives removed | distinct real documents removed |")
    print("|---|---|---:|---:|---:|---:|")
    for lang in ("en", "zh"):
        pooled = defaultdict(int)
        for s, _ in per_kind.values():
            for k in ("copies", "found", "removed", "correct", "hardneg_removed", "real_removed"):
                pooled[k] += s[lang][k]
        hn, real = per_kind["edit 2%"][0][lang]["hardneg"], per_kind["edit 2%"][0][lang]["real"]
        print(f"| {lang} | per kind, pooled | {pooled['found'] / pooled['copies']:.3f} | "
              f"{pooled['correct'] / max(1, pooled['removed']):.4f} | {pooled['hardneg_removed']} "
              f"(of {hn} x {len(KINDS)} runs) | {pooled['real_removed']} (of {real} x {len(KINDS)} runs) |")
        w = whole[lang]
        print(f"| {lang} | whole corpus | {w['found'] / w['copies']:.3f} | {w['correct'] / max(1, w['removed']):.4f} | "
              f"{w['hardneg_removed']} of {w['hardneg']} | {w['real_removed']} of {w['real']} |")
    print()
    heavy_chars = ", ".join(f"{lang} {len(site_page('', HEAVY[lang], 1, lang))}" for lang in ("en", "zh"))
    print(f"Heavy-chrome portal (chrome of {heavy_chars} characters around the same 150-600-character "
          "articles; not in the table above): pages removed, whole-corpus run: "
          + ", ".join(f"{lang} {whole[lang]['heavy_removed']} of {whole[lang]['heavy']}" for lang in ("en", "zh"))
          + ".\n")
    # hard negatives: true Jaccard within each site / quote pair
    print("Hard negatives, true Jaccard under our shingles (max over pairs):\n")
    for lang in ("en", "zh"):
        for kind in sorted({c.kind[i] for i in range(len(c.texts)) if c.lang[i] == lang and c.role[i].startswith("hardneg")}):
            members = [i for i in range(len(c.texts)) if c.lang[i] == lang and c.kind[i] == kind]
            if kind == "shared quotation":
                pairs = [(members[k], members[k + 1]) for k in range(0, len(members) - 1, 2)]
            else:
                pairs = [(a, b) for x, a in enumerate(members) for b in members[x + 1:]]
            js = [true_jaccard(c.texts[a], c.texts[b], mh) for a, b in pairs]
            print(f"- {lang} {kind}: {len(members)} documents, {len(pairs)} pairs, true J max {max(js):.2f}, "
                  f"mean {np.mean(js):.2f}, pairs >= {mh.threshold}: {sum(j >= mh.threshold for j in js)}")
    print()
    wrong = [(lang, i) for lang in ("en", "zh") for i in whole[lang]["wrong"]]
    if wrong:
        print("Wrongly removed in the whole-corpus run (document -> kept document, true J):\n")
        for lang, i in wrong[:20]:
            r = int(roots_all[i])
            print(f"- {lang} {c.role[i]} {c.kind[i]} #{i} -> {c.role[r]} {c.kind[r]} #{r}: "
                  f"J {true_jaccard(c.texts[i], c.texts[r], mh):.2f}")
        print()
    if fails:
        print("Missed copies (per-kind runs), true Jaccard with the original:\n")
        for lang, kind, m in fails[:30]:
            o = c.family[m]
            print(f"- {lang} {kind}: original #{o} ({len(c.texts[o])} chars) J {true_jaccard(c.texts[o], c.texts[m], mh):.2f}, "
                  f"estimated {float(np.mean(sig[o] == sig[m])):.2f}")


if __name__ == "__main__":
    main()
