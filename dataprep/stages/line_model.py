"""Per-line content-vs-boilerplate model for plain text (`dataprep lines train`, in
`dataprep.stages.line_train`, fits it).

jusText and trafilatura judge a block by its length, link density and stop-word density; with
no HTML there are no links, so a line is judged by what plain text still shows: sentence
punctuation, length, function-word density, whether its words also occur in the page's own
sentences (topical coherence: SEO titles and ad copy share little with the article they are
woven into), keyword-list and numbered-teaser shapes, digits and symbols, and whether it sits in
a run of short unpunctuated lines (link lists, tag clouds). `line_features` turns a page into
one row of numbers per line; a logistic regression per language turns a row into
p(boilerplate).

Recipe of the shipped model (`dataprep/resources/line_model.json`):

    dataprep lines train --input data/sample/raw --output dataprep/resources/line_model.json

Weak labels come from the corpus itself, no hand labels: a line is *boilerplate* if a rule of
`dataprep.stages.lines` flags it (nav, breadcrumb, related-article list, tags, share, meta,
copyright), if it is in >= `lines.min_docs` documents (site chrome) or if it holds a term of the
safety blocklist (gambling / fake-invoice ads); a line is *content* if it is left unflagged in a
document that the quality filter keeps once its flagged lines are gone. Lines of documents the
quality filter removes are not used (their status is unknown). Unrelated text woven into a
page, the SEO spam no rule names, is taught by self-supervision: into each kept document of
>= 4 content lines, up to 3 content lines of earlier documents (1 per 4 of its own) are
inserted at random places and labelled boilerplate. Each language gets its own
weights (class-balanced, L2-regularised logistic regression fitted by Newton's method in
numpy); the feature definitions (`LineFeatureConfig`) are saved with the weights.

The model is fitted on physical lines, while the cleaner applies it to blocks (a hard-wrapped
paragraph joined into one unit, see `dataprep.stages.lines.line_blocks`). That is deliberate:
fitted on blocks instead, the wrapped fragments leave the content class, the model grows harsh
on short unpunctuated lines and the web-page benchmark's test side fell from 0.966 body kept /
0.932 spam dropped to 0.875 / 0.839 (`benchmarks/bench_web_pages.py`, measured when blocks
came in). Blocks only change what the model is shown, not what it learnt.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

from common.atomic import write_text
from common.config import ConfigError
from dataprep.stages.normalize import HAN, HAN_RE

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "resources" / "line_model.json"

HAN_RUN_RE = re.compile(f"[{HAN}]{{2,}}")
LATIN_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*")
DIGIT_RE = re.compile(r"\d")
PUNCT_RE = re.compile(r"[，,、；;：:。.！!？?…]")
SYMBOL_RE = re.compile(r"[|｜>»«</\\·•●○■□▪▶►◆◇★☆※#@_=+~^*【】\[\]{}()（）<>《》「」『』\-—]")
LONG_DIGITS_RE = re.compile(r"\d[\d\- ]{5,}\d")
ENUM_RE = re.compile(r"^(第\s*[0-9一二三四五六七八九十百]+\s*[篇章条节期名页集]|[0-9]{1,3}\s*[.、:：)）]|"
                     r"[（(]\s*[0-9一二三四五六七八九十]+\s*[)）]|[①-⑳•·▪■►▶◆●★☆>»-]|#\s*\d)")
CLOSERS = "”’\"')）」』】]"
SENTENCE_END = set("。！？!?….;；，,")   # a comma ends a verse or a wrapped sentence, never a link
ZH_STOP_CHARS = set("的了是在和有也就都而与及着或这那其之所以为被把从对向但不一个我你他她它们要会能可将已"
                    "还又很更最并如因此于由等到上中下说")
ZH_STOP_RE = re.compile("[" + "".join(sorted(ZH_STOP_CHARS)) + "]")
# single-character classes counted per line by one table lookup over the page (a regex pass per line
# and class was most of the feature time); the counts equal len(<class>_RE.findall(line))
CHAR_CLASS_RES = {"han": HAN_RE, "zh_stop": ZH_STOP_RE, "digit": DIGIT_RE, "punct": PUNCT_RE, "symbol": SYMBOL_RE}
_TABLE_SIZE = 0x30000      # through the CJK extension planes; rarer code points belong to no class here


@functools.lru_cache(maxsize=1)
def _class_table() -> np.ndarray:
    """(code point, class) booleans for CHAR_CLASS_RES, built once per process: each class's
    pattern (one character wide) runs once over a string of every code point."""
    every = "".join(map(chr, range(_TABLE_SIZE)))
    table = np.zeros((_TABLE_SIZE, len(CHAR_CLASS_RES)), dtype=bool)
    for k, pattern in enumerate(CHAR_CLASS_RES.values()):
        table[[m.start() for m in pattern.finditer(every)], k] = True
    return table


def _class_counts(stripped: list[str]) -> dict[str, np.ndarray]:
    """Per line, how many characters of each class in CHAR_CLASS_RES (lines hold no newline)."""
    codes = np.frombuffer("\n".join(stripped).encode("utf-32-le"), dtype=np.uint32)
    line_of = np.cumsum(codes == 10) if len(codes) else codes
    known = codes < _TABLE_SIZE
    table = _class_table()[codes[known]]
    return {name: np.bincount(line_of[known], weights=table[:, k], minlength=len(stripped)).astype(np.int64)
            for k, name in enumerate(CHAR_CLASS_RES)}


EN_STOP_WORDS = {"the", "be", "to", "of", "and", "that", "have", "with", "a", "an", "in", "is", "it", "for",
                 "on", "as", "was", "are", "by", "this", "not", "but", "or", "from", "at", "which", "we",
                 "they", "he", "she", "his", "her", "their", "its", "were", "been", "has", "had", "can",
                 "will", "would", "there", "what", "when", "so", "if", "than", "into", "more", "also"}

FEATURES = ("log_len", "tiny", "short", "long", "ends_sentence", "ends_colon", "punct_density", "no_punct",
            "stop_density", "off_topic_short", "off_topic_long", "incoherent_bare", "off_topic_page", "lead_in", "digit_ratio", "symbol_ratio", "items", "title_case",
            "enumerated", "long_digits", "foreign_script", "bare_run", "bare_neighbours", "repeated_in_page")


@dataclasses.dataclass
class LineFeatureConfig:
    """How the features are measured; saved in the model file (changing one needs a retrain)."""
    max_len: int = 300              # log-length saturates here: a 300-char line is prose whatever else it is
    tiny_chars: int = 10            # length buckets (the log-length alone is one slope): menu items, tags
    short_chars: int = 25           # link titles, keyword lines, teasers
    long_chars: int = 80            # a line this long is a paragraph or a legal footer, not a woven link
    anchor_min_chars: int = 15      # a line ending a sentence with >= this many chars is a sentence line
    core_share: float = 0.5         # the page's core: its longest sentence lines holding this share of their
                                    # characters (ad copy and short teasers rarely reach it, paragraphs do)
    bare_max_chars: int = 40        # an unpunctuated line up to this long is "bare" (link title, tag, menu item)
    run_norm: int = 4               # a run of this many bare lines saturates bare_run (menus, link lists)
    en_min_word: int = 3            # English words shorter than this carry no topic for coherence


def _ends_sentence(line: str) -> bool:
    stripped = line.rstrip(CLOSERS)
    return bool(stripped) and stripped[-1] in SENTENCE_END


def _grams(line: str, latin_words: list[str], min_word: int) -> set[str]:
    """Topic units of a line: Han character bigrams and Latin word stems (first 5 letters,
    lowercased, stop words out), so "train" and "training" match."""
    grams = {run[i:i + 2] for run in HAN_RUN_RE.findall(line) for i in range(len(run) - 1)}
    grams.update(w[:5] for w in (m.lower() for m in latin_words) if len(w) >= min_word and w not in EN_STOP_WORDS)
    return grams


def line_features(lines: list[str], lang: str, cfg: LineFeatureConfig) -> np.ndarray:
    """One row of FEATURES per line (blank lines get a zero row and are never judged)."""
    stripped = [line.strip() for line in lines]
    n = len(stripped)
    lens = [len(s) for s in stripped]
    ends = [_ends_sentence(s) for s in stripped]
    counts = {name: values.tolist() for name, values in _class_counts(stripped).items()}   # ints, not numpy scalars
    puncts = counts["punct"]
    bare = [bool(s) and p == 0 and length <= cfg.bare_max_chars for s, p, length in zip(stripped, puncts, lens)]
    latin = [LATIN_WORD_RE.findall(s) for s in stripped]
    grams = [_grams(s, w, cfg.en_min_word) if s else set() for s, w in zip(stripped, latin)]
    sentences = [e and length >= cfg.anchor_min_chars for e, length in zip(ends, lens)]
    core = _core(sentences, lens, cfg)
    core_bag: Counter[str] = Counter()
    sentence_bag: Counter[str] = Counter()
    for g, c, s in zip(grams, core, sentences):
        if c:
            core_bag.update(g)
        if s:
            sentence_bag.update(g)
    # a line shares topic with the core; a core line (the page's body by construction) with the
    # page's other sentences; its own grams never count for itself
    coherence = [(sum(1 for x in g if sentence_bag[x] > 1) if c else sum(1 for x in g if core_bag[x] > 0)) / len(g)
                 if g else 0.0 for g, c in zip(grams, core)]
    core_coherence = [x for x, c in zip(coherence, core) if c]
    cohesion = sum(core_coherence) / len(core_coherence) if len(core_coherence) >= 2 else 0.0
    in_page = Counter(stripped)
    runs = _bare_runs(stripped, bare)
    nonblank = [i for i, s in enumerate(stripped) if s]
    position = {i: k for k, i in enumerate(nonblank)}
    first_sentence = next((position[i] for i in nonblank if sentences[i]), -1)
    blank = (0.0,) * len(FEATURES)
    rows: list[tuple] = []              # one array at the end: a numpy row assignment per line was slower
    log_max = math.log1p(cfg.max_len)
    for i, s in enumerate(stripped):
        if not s:
            rows.append(blank)
            continue
        length = lens[i]
        han = counts["han"][i]
        if lang == "zh":
            stop = counts["zh_stop"][i] / han if han else 0.0
            foreign = len(latin[i]) * 4 / length
        else:
            words = s.lower().split()
            stop = sum(1 for w in words if w.strip(".,;:!?\"'()") in EN_STOP_WORDS) / len(words)
            foreign = han / length
        words = s.split()
        latin_words = latin[i]
        title_case = (sum(1 for w in latin_words if w[0].isupper()) / len(latin_words)
                      if len(latin_words) >= 3 else 0.0)
        k = position[i]
        neighbours = [bare[nonblank[j]] for j in (k - 1, k + 1) if 0 <= j < len(nonblank)]
        norm_len = min(math.log1p(length) / log_max, 1.0)
        off = 1.0 - coherence[i]
        rows.append((
            norm_len,
            length < cfg.tiny_chars,
            length < cfg.short_chars,
            length >= cfg.long_chars,
            ends[i],
            s[-1] in ":：",
            min(puncts[i] * 10 / length, 1.0),
            puncts[i] == 0,
            min(stop * 4, 1.0),
            off * (1.0 - norm_len),
            off * norm_len,
            off * (not ends[i]),
            off * cohesion,
            0 < first_sentence - position[i] <= 2,
            counts["digit"][i] / length,
            min(counts["symbol"][i] * 5 / length, 1.0),
            min((len(words) - 1) / 5, 1.0) if lang == "zh" else 0.0,
            title_case,
            bool(ENUM_RE.match(s)),
            bool(LONG_DIGITS_RE.search(s)),
            min(foreign, 1.0),
            min((runs[i] - 1) / (cfg.run_norm - 1), 1.0) if bare[i] else 0.0,
            sum(neighbours) / len(neighbours) if neighbours else 0.0,
            in_page[s] > 1,
        ))
    return np.array(rows, dtype=np.float32).reshape(n, len(FEATURES))


def _core(sentences: list[bool], lens: list[int], cfg: LineFeatureConfig) -> list[bool]:
    """The page's core lines: its longest sentence lines that together hold `core_share` of the
    characters of all its sentence lines."""
    order = sorted((i for i, s in enumerate(sentences) if s), key=lambda i: -lens[i])
    total = sum(lens[i] for i in order)
    core = [False] * len(lens)
    held = 0
    for i in order:
        if held >= cfg.core_share * total:
            break
        core[i] = True
        held += lens[i]
    return core


def _bare_runs(stripped: list[str], bare: list[bool]) -> list[int]:
    """For each line, the length of the run of consecutive bare lines it is in (blank lines skipped)."""
    runs = [0] * len(stripped)
    run: list[int] = []
    for i, s in enumerate(stripped + ["."]):
        if i < len(stripped) and not s:
            continue
        if i < len(stripped) and bare[i]:
            run.append(i)
            continue
        for j in run:
            runs[j] = len(run)
        run = []
    return runs


@dataclasses.dataclass
class LineModel:
    """Logistic regression per language over FEATURES; `predict` gives p(boilerplate) per row."""
    features: LineFeatureConfig
    weights: dict[str, list[float]]     # lang -> one weight per feature, then the bias
    recipe: str = ""

    def predict(self, rows: np.ndarray, lang: str) -> np.ndarray:
        w = np.asarray(self.weights.get(lang) or self.weights["en"], dtype=np.float32)
        return 1.0 / (1.0 + np.exp(-(rows @ w[:-1] + w[-1])))

    def save(self, path: str | Path) -> None:
        data = {"features": dataclasses.asdict(self.features), "names": list(FEATURES),
                "weights": {k: [round(float(x), 5) for x in v] for k, v in self.weights.items()},
                "recipe": self.recipe}
        write_text(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")     # temp file, then rename

    @classmethod
    def load(cls, path: str | Path = "") -> LineModel:
        path = Path(path or DEFAULT_MODEL)
        if not path.is_file():
            raise ConfigError(f"lines.model file not found: {path}")
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("names") != list(FEATURES):
            raise ConfigError(f"{path} was trained on other features; retrain with `dataprep lines train`")
        return cls(LineFeatureConfig(**data["features"]), data["weights"], data.get("recipe", ""))
