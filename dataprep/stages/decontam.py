"""Decontamination: remove (or flag) training documents that share a long n-gram with an evaluation set.

GPT-3's rule (Brown et al. 2020, appendix C): a training document that shares any 13-word
n-gram with a test item is contaminated. Chinese has no spaces, so Han text is compared as
character n-grams (20 Han characters by default, about the information of 13 English words).
Both kinds are taken after dropping everything else (punctuation, spaces, case), so a copy
with other line breaks or full-width punctuation still matches; a near-miss that shares only
shorter runs does not. An evaluation item shorter than one n-gram cannot be matched (GPT-3
lowered n for benchmarks of short items: set `word_ngram` / `han_ngram` likewise).

The index maps every n-gram hash of the evaluation files (read by `dataprep.reader`, so jsonl,
parquet, .txt ... with `text_field`) to the first item holding it; the removal's detail names
that item and the shared n-gram, for the report. It is built once per worker process.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Iterator, Literal

from common.config import ConfigError
from dataprep.core import Document, Stage, StageStats
from dataprep.stages.normalize import HAN

WORD_RE = re.compile(r"[0-9A-Za-z\u00c0-\u024f]+")
HAN_RUN_RE = re.compile(f"[{HAN}]+")
REASON = "decontam"
FLAG_COLUMN = "decontam_match"


@dataclasses.dataclass
class DecontamConfig:
    enabled: bool = True
    eval_files: list[str] = dataclasses.field(default_factory=list)  # files, directories or globs (reader formats)
    text_field: str = "text"          # the field of an eval record compared (e.g. "question" for C-Eval as jsonl)
    word_ngram: int = 13              # GPT-3: 13 words
    han_ngram: int = 20               # Han characters in a row (punctuation and Latin dropped)
    # remove: contaminated documents are removed (reason "decontam"); flag: kept, with the matched
    # eval item in the column `decontam_match` (null when clean)
    action: Literal["remove", "flag"] = "remove"

    def validate(self) -> None:
        if self.word_ngram < 1 or self.han_ngram < 1:
            raise ConfigError("decontam.word_ngram and decontam.han_ngram must be >= 1")


def word_ngrams(text: str, n: int) -> Iterator[str]:
    words = [w.lower() for w in WORD_RE.findall(text)]
    for i in range(len(words) - n + 1):
        yield " ".join(words[i:i + n])


def han_ngrams(text: str, n: int) -> Iterator[str]:
    han = "".join(HAN_RUN_RE.findall(text))
    for i in range(len(han) - n + 1):
        yield han[i:i + n]


class EvalIndex:
    """n-gram hash -> the eval item ("file:id") that holds it first."""

    def __init__(self, cfg: DecontamConfig):
        from dataprep.reader import InputError, iter_documents
        self.word_n, self.han_n = cfg.word_ngram, cfg.han_ngram
        self.items = 0
        self.owner: dict[int, str] = {}
        try:
            for doc in iter_documents(cfg.eval_files, cfg.text_field, source_field=None):
                self.items += 1
                label = f"{doc.source}:{doc.id}"
                for gram in (*word_ngrams(doc.text, self.word_n), *han_ngrams(doc.text, self.han_n)):
                    self.owner.setdefault(hash(gram), label)
        except InputError as exc:
            raise ConfigError(f"decontam.eval_files: {exc}") from None
        if not self.items:
            raise ConfigError(f"decontam.eval_files {cfg.eval_files}: no evaluation items read")

    def match(self, text: str) -> tuple[str, str] | None:
        """(eval item, shared n-gram) of the first n-gram of `text` found in the index, else None."""
        for gram in (*word_ngrams(text, self.word_n), *han_ngrams(text, self.han_n)):
            item = self.owner.get(hash(gram))
            if item is not None:
                return item, gram
        return None


_INDEX_CACHE: dict[str, EvalIndex] = {}


def eval_index(cfg: DecontamConfig) -> EvalIndex:
    """The index of these settings, built once per process (every shard of a worker reuses it)."""
    key = repr(dataclasses.astuple(cfg))
    if key not in _INDEX_CACHE:
        _INDEX_CACHE.clear()
        _INDEX_CACHE[key] = EvalIndex(cfg)
    return _INDEX_CACHE[key]


class Decontaminate(Stage):
    """Removes (or flags) documents sharing a word or Han-character n-gram with an eval item."""

    name = "decontam"

    def __init__(self, cfg: DecontamConfig):
        self.index, self.action = eval_index(cfg), cfg.action
        self.columns = {FLAG_COLUMN: "string"} if cfg.action == "flag" else {}

    def apply(self, doc: Document, stats: StageStats) -> Document | None:
        found = self.index.match(doc.text)
        if found is None:
            return doc
        item, gram = found
        detail = f"matched {item} on {gram!r}"
        if self.action == "remove":
            stats.remove(doc, REASON, detail)
            return None
        doc.meta[FLAG_COLUMN] = item
        stats.count("flagged")
        stats.example("flagged", f"{doc.id}: {detail}")
        return doc
