"""Learned document quality score: character n-gram language models + a logistic regression.

Hand rules (quality.py) pass character salad, keyword injection and fluent spam, and drop short
genuine documents. This stage scores every zh/en document the way CCNet does (perplexity under a
language model trained on clean text), but with features that survive a change of domain:

* a hashed character n-gram LM per language (Witten-Bell interpolation, counts in numpy tables)
  trained on reference clean text. Besides its cross-entropy (bits/char) we use the *context
  gain*: unigram cost minus n-gram cost. Genuine text, even far from the training domain, is
  cheaper in context than char by char; character salad (real characters, random order) is not.
* per-window costs (max window cost, min window gain) so a short injected span stands out in an
  otherwise normal document;
* a small "commercial" LM trained on spam prose the trainer generates from its own template
  set; the per-window log-likelihood ratio good-vs-commercial catches fluent spam, which a clean
  LM alone scores as normal text;
* a few shape features (length, digit / upper-case / symbol share, rare-character rate).

A logistic regression per language, trained on held-apart reference text (good) and bad
documents generated from that same text (salad, chunk salad, injection, spam, garbling, keyword
lists, boilerplate), maps the features to `quality_score` = P(good) in [0, 1]. The LM counts come
from a disjoint part of the reference text so the classifier sees the costs of *unseen* text.

`dataprep quality train` builds the model; the shipped default lives in dataprep/resources/.
Everything is vectorised numpy: no compiled dependency, a model of a few hundred KB.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import gzip
import json
import math
import random
import re
import sys
import zlib
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from common.config import ConfigError
from dataprep.core import Document, Stage, StageStats
from dataprep.stages.normalize import detect_lang

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "resources" / "doc_quality.npz"
LANGS = ("zh", "en")

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_PRIME = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_BOS, _EOS = 1, 2
UNITS = ("char", "word")
_WS_RE = re.compile(r"\s+")
_DIGIT_RE = re.compile(r"\d")


# ---- hashed character n-gram LM -------------------------------------------------------------

_WORD_RE = re.compile(r"\w+|[^\w\s]")


def lm_codes(text: str, unit: str = "char") -> np.ndarray:
    """The units an LM sees, as codes: text lower-cased, every digit -> '0', whitespace runs -> one
    space; then characters (code points) or words/punctuation marks (hashed), and an end mark (so
    every counted context is followed by something)."""
    norm = _DIGIT_RE.sub("0", _WS_RE.sub(" ", text.lower()).strip())
    if unit == "word":
        codes = np.array([zlib.crc32(w.encode("utf-8")) + 3 for w in _WORD_RE.findall(norm)], dtype=np.uint64)
    else:
        codes = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return np.concatenate([codes, np.array([_EOS], dtype=np.uint64)])


def ngram_buckets(codes: np.ndarray, order: int, bits: int) -> np.ndarray:
    """[order, len(codes) + order - 1] table buckets: row k-1 holds the (k)-gram ending at each
    position of the BOS-padded sequence (the same tuple always hashes to the same bucket)."""
    padded = np.concatenate([np.full(order - 1, _BOS, dtype=np.uint64), codes])
    n = len(padded)
    out = np.empty((order, n), dtype=np.int64)
    h = np.zeros(n, dtype=np.uint64)
    for k in range(1, order + 1):
        shifted = np.full(n, _BOS, dtype=np.uint64)
        shifted[k - 1:] = padded[:n - k + 1]         # the char k-1 places back (BOS before the start)
        h = (h ^ shifted) * _PRIME + np.uint64(k)
        mixed = (h ^ (h >> np.uint64(31))) * _MIX
        out[k - 1] = (mixed >> np.uint64(64 - bits)).astype(np.int64)
    return out


@dataclasses.dataclass
class CharLM:
    """An n-gram LM over characters (or words: `unit`). Counts of all n-grams (orders 1..order) in one hashed table, plus the number of distinct
    continuations of each context (Witten-Bell's N1+). Collisions only add noise to counts."""
    order: int
    bits: int
    counts: np.ndarray          # uint32 [2**bits]
    distinct: np.ndarray        # uint32 [2**bits]
    total: int                  # characters counted (unigram denominator)
    vocab: int                  # distinct units seen + 1 for "unknown"
    unit: str = "char"          # or "word"

    @classmethod
    def train(cls, texts: Iterable[str], order: int, bits: int, min_count: int = 2,
              unit: str = "char") -> "CharLM":
        """Counts n-grams; orders >= 2 seen fewer than `min_count` times are pruned from the
        count table (KenLM-style) after their contexts' continuation counts are taken."""
        grams: list[np.ndarray] = []          # per order: bucket of each n-gram occurrence
        pairs: list[np.ndarray] = []          # context bucket << bits | n-gram bucket
        unigrams: set[int] = set()
        total = 0
        for text in texts:
            codes = lm_codes(text, unit)
            buckets = ngram_buckets(codes, order, bits)
            table = buckets[:, order - 1:]                  # n-grams ending on real characters
            grams.append(table)
            if order > 1:                                   # context of a k-gram: the (k-1)-gram one place back
                pairs.append((buckets[:-1, order - 2:-1] << bits) | table[1:])
            unigrams.update(np.unique(codes).tolist())
            total += len(codes)
        size = 1 << bits
        all_grams = np.concatenate(grams, axis=1) if grams else np.zeros((order, 0), dtype=np.int64)
        counts = np.zeros(size, dtype=np.int64)
        for k in range(order):
            row = np.bincount(all_grams[k], minlength=size)
            if k >= 1 and min_count > 1:
                row[row < min_count] = 0
            counts += row
        distinct = np.zeros(size, dtype=np.int64)
        if pairs:
            unique = np.unique(np.concatenate(pairs, axis=1).ravel())
            distinct = np.bincount(unique >> bits, minlength=size)
        limit = np.iinfo(np.uint32).max
        return cls(order, bits, np.minimum(counts, limit).astype(np.uint32),
                   np.minimum(distinct, limit).astype(np.uint32), total, len(unigrams) + 1, unit)

    def costs(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Per-unit cost in bits under the full model and under its unigram level."""
        codes = lm_codes(text, self.unit)
        buckets = ngram_buckets(codes, self.order, self.bits)
        counts, distinct = self.counts, self.distinct
        start = self.order - 1
        p = (counts[buckets[0, start:]] + 1.0) / (self.total + self.vocab)
        unigram = p
        for k in range(1, self.order):
            gram = counts[buckets[k, start:]].astype(np.float64)
            ctx = buckets[k - 1, start - 1:-1]
            # a bucket may hold counts of n-grams that never were contexts (collisions): >= 1 keeps p > 0
            ctx_count = counts[ctx].astype(np.float64)
            ctx_distinct = np.maximum(distinct[ctx], 1).astype(np.float64)
            seen = ctx_count > 0
            p = np.where(seen, (np.minimum(gram, ctx_count) + ctx_distinct * p)
                         / np.maximum(ctx_count + ctx_distinct, 1.0), p)
        return -np.log2(p[:-1]), -np.log2(unigram[:-1])   # the end mark is not text

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.counts": self.counts, f"{prefix}.distinct": self.distinct,
                f"{prefix}.shape": np.array([self.order, self.bits, self.total, self.vocab,
                                             UNITS.index(self.unit)], dtype=np.int64)}

    @classmethod
    def from_arrays(cls, data, prefix: str) -> "CharLM":
        order, bits, total, vocab, unit = (int(v) for v in data[f"{prefix}.shape"])
        return cls(order, bits, data[f"{prefix}.counts"], data[f"{prefix}.distinct"], total, vocab, UNITS[unit])


# ---- features ------------------------------------------------------------------------------

FEATURES = ("xent", "gain", "window_spike", "window_min_gain", "llr", "window_max_llr",
            "log_chars", "rare_char_rate", "upper_frac", "digit_frac", "symbol_frac", "latin_frac")
WORD_FEATURES = ("word_xent", "word_gain", "word_window_min_gain", "lower_after_stop")  # word-LM languages (en)
WINDOW = {"zh": 12, "en": 40, "word": 8}   # sliding window: ~ one clause in either language
RARE_BITS = 14.0                           # cost of a char the LM has (almost) never seen


def _window_means(values: np.ndarray, width: int) -> np.ndarray:
    """Means of every run of `width` consecutive values (one mean when there are fewer)."""
    if len(values) <= width:
        return np.array([values.mean()])
    sums = np.cumsum(np.concatenate([[0.0], values]))
    return (sums[width:] - sums[:-width]) / width


def features(text: str, good: CharLM, spam: CharLM, lang: str, words: CharLM | None = None) -> np.ndarray:
    """The FEATURES (+ WORD_FEATURES with a word LM) vector of one document."""
    cost, uni = good.costs(text)
    if len(cost) == 0:
        return np.zeros(len(FEATURES) + (len(WORD_FEATURES) if words else 0))
    spam_cost, _ = spam.costs(text)
    width = WINDOW[lang]
    win_cost, win_uni = _window_means(cost, width), _window_means(uni, width)
    win_llr = _window_means(cost - spam_cost, width)
    xent = float(cost.mean())
    chars = max(len(text), 1)
    letters = sum(ch.isalpha() for ch in text) or 1
    base = [
        xent, float(uni.mean()) - xent, float(win_cost.max()) - xent, float((win_uni - win_cost).min()),
        float((cost - spam_cost).mean()), float(win_llr.max()),
        math.log10(chars), float((cost > RARE_BITS).mean()),
        sum(ch.isupper() for ch in text) / letters, sum(ch.isdigit() for ch in text) / chars,
        sum(not (ch.isalnum() or ch.isspace()) for ch in text) / chars,
        sum(ch.isascii() and ch.isalpha() for ch in text) / letters,
    ]
    if words is not None:
        wcost, wuni = words.costs(text)
        if len(wcost) == 0:
            base += [0.0, 0.0, 0.0]
        else:
            gains = _window_means(wuni, WINDOW["word"]) - _window_means(wcost, WINDOW["word"])
            base += [float(wcost.mean()), float(wuni.mean() - wcost.mean()), float(gains.min())]
        base.append(lower_after_stop(text))
    return np.array(base)


def lower_after_stop(text: str) -> float:
    """Share of sentence ends (a word ending in . ! ?) followed by a lower-case word: rare in
    written English (abbreviations), common when word chunks are shuffled (the LMs lower-case)."""
    tokens = text.split()
    stops = [i for i, tok in enumerate(tokens[:-1]) if tok.endswith((".", "!", "?"))]
    return sum(tokens[i + 1][0].islower() for i in stops) / len(stops) if stops else 0.0


# ---- classifier ----------------------------------------------------------------------------

@dataclasses.dataclass
class Logistic:
    """Standardised logistic regression; P(good) = sigmoid(w . (x - mean) / std + b)."""
    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray          # one per feature + the bias last

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 50) -> "Logistic":
        """Newton's method on the class-balanced, L2-regularised log loss."""
        mean, std = x.mean(0), x.std(0) + 1e-6
        z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
        weight = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1))
        w = np.zeros(z.shape[1])
        for _ in range(steps):
            p = 1.0 / (1.0 + np.exp(-z @ w))
            grad = z.T @ (weight * (p - y)) + l2 * w
            hess = (z * (weight * p * (1 - p))[:, None]).T @ z + l2 * np.eye(len(w))
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        return cls(mean, std, w)

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(x) - self.mean) / self.std
        return 1.0 / (1.0 + np.exp(-(z @ self.weights[:-1] + self.weights[-1])))


@dataclasses.dataclass
class QualityModel:
    """Per language: clean char LM, commercial char LM, optional clean word LM, classifier."""
    good: dict[str, CharLM]
    spam: dict[str, CharLM]
    clf: dict[str, Logistic]
    words: dict[str, CharLM] = dataclasses.field(default_factory=dict)
    recipe: str = ""

    def feature_names(self, lang: str) -> tuple[str, ...]:
        return FEATURES + (WORD_FEATURES if lang in self.words else ())

    def features(self, text: str, lang: str) -> np.ndarray:
        return features(text, self.good[lang], self.spam[lang], lang, self.words.get(lang))

    def score(self, text: str, lang: str) -> tuple[float, np.ndarray]:
        x = self.features(text, lang)
        return float(self.clf[lang].predict(x)[0]), x

    def save(self, path: str | Path) -> None:
        arrays: dict[str, np.ndarray] = {"recipe": np.array(self.recipe)}
        for lang in self.good:
            arrays[f"{lang}.features"] = np.array(self.feature_names(lang))
            if lang in self.words:
                arrays.update(self.words[lang].arrays(f"{lang}.words"))
            arrays.update(self.good[lang].arrays(f"{lang}.good"))
            arrays.update(self.spam[lang].arrays(f"{lang}.spam"))
            clf = self.clf[lang]
            arrays.update({f"{lang}.clf.mean": clf.mean, f"{lang}.clf.std": clf.std,
                           f"{lang}.clf.weights": clf.weights})
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "QualityModel":
        with np.load(path, allow_pickle=False) as data:
            langs = [lang for lang in LANGS if f"{lang}.good.shape" in data]
            model = cls({lang: CharLM.from_arrays(data, f"{lang}.good") for lang in langs},
                        {lang: CharLM.from_arrays(data, f"{lang}.spam") for lang in langs},
                        {lang: Logistic(data[f"{lang}.clf.mean"], data[f"{lang}.clf.std"],
                                        data[f"{lang}.clf.weights"]) for lang in langs},
                        {lang: CharLM.from_arrays(data, f"{lang}.words") for lang in langs
                         if f"{lang}.words.shape" in data},
                        str(data["recipe"]))
            for lang in langs:
                if tuple(data[f"{lang}.features"].tolist()) != model.feature_names(lang):
                    raise ConfigError(f"{path} was trained with {lang} features {data[f'{lang}.features'].tolist()}, "
                                      f"this code computes {list(model.feature_names(lang))}: retrain it with "
                                      f"`dataprep quality train`")
            return model


# ---- the stage -----------------------------------------------------------------------------

@dataclasses.dataclass
class LangThresholds:
    # Keep a document when quality_score >= min_score. 0.5 is the classifier's balanced decision
    # point (it is trained class-balanced); benchmarks/bench_doc_quality.py shows the trade-off.
    min_score: float = 0.5
    # Documents the rule filter let through only because they are short (doc.meta["short_doc"]):
    # the rules cannot judge them, so the score alone decides; the same cut-off kept >= 0.95 of
    # short genuine documents on the benchmark's held-apart set.
    min_score_short: float = 0.5


@dataclasses.dataclass
class DocScoreConfig:
    enabled: bool = True
    model: str = ""            # "" = the shipped dataprep/resources/doc_quality.npz
    zh: LangThresholds = dataclasses.field(default_factory=LangThresholds)
    en: LangThresholds = dataclasses.field(default_factory=LangThresholds)

    def validate(self) -> None:
        for lang in LANGS:
            cut = getattr(self, lang)
            for key in ("min_score", "min_score_short"):
                if not 0.0 <= getattr(cut, key) <= 1.0:
                    raise ConfigError(f"doc_score.{lang}.{key} is a probability in [0, 1], got {getattr(cut, key)!r}")
        if self.model and not Path(self.model).is_file():
            raise ConfigError(f"doc_score.model {self.model!r} is not a file: train one with "
                              f"`dataprep quality train --input DIR --output FILE`, or leave it empty for the shipped one")

    def model_path(self) -> Path:
        return Path(self.model) if self.model else DEFAULT_MODEL


class DocScore(Stage):
    """Scores zh/en documents (doc.meta["quality_score"], doc.meta["perplexity"] in per-character
    terms) and removes those under their language's threshold as `low_quality_score`; other
    languages pass unscored (the rule filter decides about them)."""

    name = "doc_score"
    columns = {"quality_score": "float64", "perplexity": "float64"}   # re-threshold without rerunning

    def __init__(self, cfg: DocScoreConfig, model: QualityModel | None = None):
        self.cfg = cfg
        self.model = model or QualityModel.load(cfg.model_path())

    def apply(self, doc: Document, stats: StageStats) -> Document | None:
        lang = doc.meta.setdefault("lang", detect_lang(doc.text))
        if lang not in self.model.clf:
            stats.count(f"unscored.{lang}")
            return doc
        score, x = self.model.score(doc.text, lang)
        doc.meta["quality_score"] = round(score, 4)
        doc.meta["perplexity"] = round(2.0 ** float(x[0]), 2)
        cut = getattr(self.cfg, lang)
        short = bool(doc.meta.get("short_doc"))
        if score < (cut.min_score_short if short else cut.min_score):
            stats.remove(doc, f"low_quality_score{'_short' if short else ''}")
            return None
        stats.count(f"scored.{lang}")
        return doc


# ---- bad documents made from good text (training here; the benchmark uses other vocabularies) --

_SENT_RE = {"zh": re.compile(r"(?<=[。！？；])"), "en": re.compile(r"(?<=[.!?;])\s+")}


def sentences(text: str, lang: str) -> list[str]:
    return [s.strip() for s in _SENT_RE[lang].split(text.replace("\n", " " if lang == "en" else "")) if s.strip()]


def char_salad(text: str, rng: random.Random) -> str:
    """Real characters in a random order (whitespace stays where it was)."""
    chars = [c for c in text if not c.isspace()]
    rng.shuffle(chars)
    it = iter(chars)
    return "".join(c if c.isspace() else next(it) for c in text)


def chunk_salad(text: str, lang: str, rng: random.Random, max_chunk: int = 4) -> str:
    """Real chunks (1..max_chunk words, or 2..max_chunk characters for zh) in a random order."""
    units = text.split() if lang == "en" else list(text.replace("\n", ""))
    chunks, i = [], 0
    while i < len(units):
        n = rng.randint(1 if lang == "en" else 2, max_chunk)
        chunks.append(units[i:i + n])
        i += n
    rng.shuffle(chunks)
    return (" " if lang == "en" else "").join((" " if lang == "en" else "").join(c) for c in chunks)


def inject_keywords(text: str, lang: str, keywords: Sequence[str], rng: random.Random,
                    every: int = 2) -> str:
    """A normal paragraph with keyword phrases inserted after about every `every`-th sentence
    (always at least once)."""
    out = []
    parts = sentences(text, lang)
    for i, sentence in enumerate(parts):
        out.append(sentence)
        if i % every == every - 1 or i == len(parts) - 1 == 0 or rng.random() < 0.2:
            out.append(" ".join(rng.sample(list(keywords), k=min(len(keywords), rng.randint(1, 3)))))
    return (" " if lang == "en" else "").join(out)


def fill_templates(templates: Sequence[str], slots: dict[str, Sequence[str]], rng: random.Random,
                   sentences_n: int) -> str:
    """Spam prose: `sentences_n` templates with {slot}s filled from the slot vocabularies."""
    picked = [rng.choice(templates) for _ in range(sentences_n)]
    return " ".join(t.format(**{k: rng.choice(v) for k, v in slots.items()}) for t in picked)


def garble(text: str, lang: str, rng: random.Random) -> str:
    """Mojibake: zh as UTF-8 bytes read as GBK; en with ~35% of letters replaced at random
    (OCR / machine garbling; UTF-8 read as Latin-1 leaves ASCII English unchanged)."""
    if lang == "zh":
        return text.encode("utf-8").decode("gbk", errors="replace")
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "".join(rng.choice(letters) if c.isalpha() and rng.random() < 0.35 else c for c in text)


def keyword_list(keywords: Sequence[str], lang: str, rng: random.Random, n: int) -> str:
    sep = rng.choice([", ", " ", " | "] if lang == "en" else ["，", " ", "、", " | "])
    return sep.join(rng.choice(list(keywords)) for _ in range(n))


# Training-side vocabularies. The benchmark's bad documents use different templates and words.
TRAIN_SPAM = {
    "en": {
        "templates": [
            "Buy {product} online at the lowest price and get {offer} today.",
            "Our {shop} offers {product} with {offer}, no questions asked.",
            "Order now and save up to {pct}% on {product}!",
            "Looking for {product}? Visit our {shop} and claim {offer}.",
            "Get instant approval for {product} with {offer} for all customers.",
            "Click here to sign up and receive {offer} on {product}.",
            "Best {product} deals of the year, {offer}, limited time only!",
            "Thousands of happy customers trust our {shop} for {product}.",
        ],
        "slots": {
            "product": ["cheap viagra", "generic cialis", "diet pills", "weight loss supplements",
                        "payday loans", "casino bonuses", "free slot spins", "replica watches",
                        "seo backlinks", "cheap followers", "discount pharmacy refills", "online poker chips"],
            "offer": ["free shipping", "a 100% welcome bonus", "fast delivery", "no credit check",
                      "a money-back guarantee", "free bonus spins", "a secret discount code"],
            "shop": ["online pharmacy", "casino", "loan center", "online store", "marketing agency"],
            "pct": ["50", "70", "80", "90"],
        },
        "keywords": ["cheap viagra", "casino bonus", "payday loans", "buy followers", "replica watches",
                     "free spins", "diet pills", "seo services", "online pharmacy", "best price"],
    },
    "zh": {
        "templates": [
            "{product}，{offer}，欢迎来电咨询。",
            "本公司长期提供{product}，{offer}，诚信经营。",
            "想要{product}？{offer}，请加微信联系客服。",
            "专业{product}，{offer}，保证满意。",
            "{product}火热进行中，{offer}，名额有限！",
            "我们的{shop}为您提供{product}，{offer}。",
        ],
        "slots": {
            "product": ["代开发票", "网络博彩", "真人娱乐", "无抵押贷款", "减肥药", "网站推广",
                        "百家乐", "高仿手表", "刷单兼职", "快速办证"],
            "offer": ["价格优惠", "当天到账", "注册就送彩金", "点数从优", "全国包邮", "无需审核", "首充返利"],
            "shop": ["娱乐城", "公司", "平台", "网店", "工作室"],
        },
        "keywords": ["代开发票", "博彩", "娱乐城", "贷款", "减肥", "网站推广", "百家乐", "彩金", "刷单",
                     "办证"],
    },
}
TRAIN_BOILERPLATE = {
    "en": ["Home | About | Contact | Privacy Policy", "Copyright 2021 All rights reserved.",
           "Sign in or register to continue", "Share on Facebook Twitter", "Related posts",
           "Leave a comment", "Subscribe to our newsletter", "Next page >>", "Skip to content"],
    "zh": ["首页 | 关于我们 | 联系我们", "版权所有 © 2021", "登录 注册", "分享到：微信 微博",
           "相关文章", "发表评论", "返回顶部", "上一篇 下一篇", "热门推荐"],
}


def training_bad(text: str, lang: str, rng: random.Random) -> tuple[str, str]:
    """One generated bad document (kind, text) from a good text, training vocabularies."""
    spam = TRAIN_SPAM[lang]
    kind = rng.choice(["char_salad", "chunk_salad", "injection", "spam", "garbled", "keyword_list",
                       "boilerplate"])
    if kind == "char_salad":
        return kind, char_salad(text, rng)
    if kind == "chunk_salad":
        return kind, chunk_salad(text, lang, rng)
    if kind == "injection":
        return kind, inject_keywords(text, lang, spam["keywords"], rng)
    if kind == "spam":
        return kind, fill_templates(spam["templates"], spam["slots"], rng, rng.randint(1, 8))
    if kind == "garbled":
        return kind, garble(text, lang, rng)
    if kind == "keyword_list":
        return kind, keyword_list(spam["keywords"], lang, rng, rng.randint(5, 40))
    lines = TRAIN_BOILERPLATE[lang]
    return kind, "\n".join(rng.sample(lines, k=rng.randint(3, len(lines))))


def excerpt(text: str, lang: str, rng: random.Random) -> str:
    """A random-length piece of a document (1 sentence .. whole), so training covers every length."""
    parts = sentences(text, lang)
    if len(parts) <= 1 or rng.random() < 0.3:
        return text
    n = rng.choice([1, 1, 2, 3, 5, len(parts)])
    start = rng.randrange(0, max(len(parts) - n, 0) + 1)
    return (" " if lang == "en" else "").join(parts[start:start + n])


# ---- training --------------------------------------------------------------------------------

ORDER = {"zh": 3, "en": 5}     # zh chars are morphemes: 3 chars ~ a word and a half; en 5 ~ a word
BITS = {"good": 20, "spam": 16, "words": 18}
WORD_LM = ("en",)              # a word bigram LM sees shuffled word chunks a 5-char LM misses; zh has no spaces


def is_holdout(doc_id: str, frac: float) -> bool:
    """Deterministic by id: the same documents are held out by training and by the benchmark."""
    return zlib.crc32(doc_id.encode("utf-8")) % 1000 < frac * 1000


def read_reference(paths: Sequence[Path]) -> Iterator[tuple[str, str]]:
    """(id, text) of reference records: jsonl(.gz) or parquet with a `text` column; jsonl records
    whose `noise` field is set (the sample's planted noise) are skipped."""
    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*"))
                   if f.name.endswith((".jsonl", ".jsonl.gz", ".parquet")))
    if not files:
        raise ConfigError(f"no .jsonl, .jsonl.gz or .parquet files under {', '.join(map(str, paths))}")
    for path in files:
        if path.name.endswith(".parquet"):
            import pyarrow.parquet as pq
            table = pq.read_table(path, columns=["id", "text"]).to_pylist()
            yield from ((str(r["id"]), r["text"]) for r in table if isinstance(r["text"], str))
            continue
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for n, line in enumerate(handle):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("text"), str) and not record.get("noise"):
                    yield str(record.get("id", f"{path.name}:{n}")), record["text"]


@functools.lru_cache(maxsize=1)
def jieba_words(min_freq: int = 5) -> tuple[str, ...]:
    """Words of jieba's dictionary (a project dependency) seen >= min_freq times in its corpus:
    the zh LM counts them as extra one-word texts, so modern vocabulary the small reference text
    lacks still has its inside-word character transitions."""
    import jieba
    path = Path(jieba.__file__).parent / "dict.txt"
    with open(path, encoding="utf-8") as handle:
        return tuple(w for w, f, *_ in (line.split() for line in handle) if int(f) >= min_freq and len(w) > 1)


def train_lms(texts: Sequence[str], lang: str) -> tuple[CharLM, CharLM | None]:
    """The clean char LM (+ jieba's words for zh) and (WORD_LM languages) the word bigram LM."""
    extra = jieba_words() if lang == "zh" else ()
    return (CharLM.train([*texts, *extra], ORDER[lang], BITS["good"]),
            CharLM.train(texts, 2, BITS["words"], unit="word") if lang in WORD_LM else None)


def train_model(docs: Sequence[tuple[str, str]], seed: int = 0, rounds: int = 3,
                log: Callable[[str], None] = lambda line: None) -> QualityModel:
    """Two-fold cross-fitting per language: the LMs of one half of the documents (split by id)
    give the features of the other half, so the classifier learns the costs of text the LM has
    not seen; the shipped LMs are then counted on all documents. Examples per document and round:
    one excerpt of random length (good) and one bad document generated from the whole text."""
    by_lang: dict[str, list[tuple[str, str]]] = {lang: [] for lang in LANGS}
    for doc_id, text in docs:
        lang = detect_lang(text)
        if lang in by_lang and text.strip():
            by_lang[lang].append((doc_id, text))
    model = QualityModel({}, {}, {})
    for lang, items in by_lang.items():
        if len(items) < 10:
            raise ConfigError(f"only {len(items)} {lang} reference documents: give at least 10 per language")
        rng = random.Random(seed)
        spam_cfg = TRAIN_SPAM[lang]
        spam_text = [fill_templates(spam_cfg["templates"], spam_cfg["slots"], rng, 20) for _ in range(300)]
        spam = CharLM.train(spam_text, ORDER[lang], BITS["spam"], min_count=1)
        halves = [[t for i, t in items if zlib.crc32(f"fold:{i}".encode()) % 2 == h] for h in (0, 1)]
        rows, labels = [], []
        for half in (0, 1):
            good, words = train_lms(halves[1 - half], lang)
            for _ in range(rounds):
                for text in halves[half]:
                    rows.append(features(excerpt(text, lang, rng), good, spam, lang, words))
                    rows.append(features(training_bad(text, lang, rng)[1], good, spam, lang, words))
                    labels += [1, 0]
        x, y = np.array(rows), np.array(labels, dtype=np.float64)
        clf = Logistic.fit(x, y)
        acc = float(((clf.predict(x) >= 0.5) == (y == 1)).mean())
        good, words = train_lms([t for _, t in items], lang)
        log(f"{lang}: LMs on {len(items)} docs ({good.total} chars), classifier on {len(y)} cross-fitted "
            f"examples, training accuracy {acc:.3f}")
        model.good[lang], model.spam[lang], model.clf[lang] = good, spam, clf
        if words is not None:
            model.words[lang] = words
    return model


def cmd_train(args: argparse.Namespace) -> int:
    docs = [(i, t) for i, t in read_reference([Path(p) for p in args.input])
            if not is_holdout(i, args.holdout)]
    model = train_model(docs, seed=args.seed, log=lambda line: print(line, file=sys.stderr))
    model.recipe = (f"dataprep quality train --input {' '.join(args.input)} --holdout {args.holdout} "
                    f"--seed {args.seed}: {len(docs)} reference documents")
    model.save(args.output)
    print(f"{args.output}: {Path(args.output).stat().st_size / 1e6:.2f} MB ({model.recipe})")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    model = QualityModel.load(args.model or DEFAULT_MODEL)
    for doc_id, text in read_reference([Path(p) for p in args.input]):
        lang = detect_lang(text)
        score = model.score(text, lang)[0] if lang in model.clf else float("nan")
        print(json.dumps({"id": doc_id, "lang": lang, "quality_score": round(score, 4)}))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    quality = subparsers.add_parser(
        "quality", help="train or apply the learned document quality score",
        description="Train the document quality model (character n-gram LMs + logistic regression) "
                    "on reference clean text, or print the score of each document.")
    sub = quality.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train a model from clean reference text")
    train.add_argument("--input", nargs="+", required=True,
                       help="jsonl(.gz)/parquet files or directories of clean text (records with `noise` set are skipped)")
    train.add_argument("--output", required=True, help="model file to write (.npz)")
    train.add_argument("--holdout", type=float, default=0.2,
                       help="fraction of documents (by id hash) left out for evaluation (benchmarks/bench_doc_quality.py)")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(func=cmd_train)
    score = sub.add_parser("score", help="print {id, lang, quality_score} per document as JSON lines")
    score.add_argument("--input", nargs="+", required=True)
    score.add_argument("--model", default="", help="model file (default: the shipped one)")
    score.set_defaults(func=cmd_score)
