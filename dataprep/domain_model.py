"""Learned domain classifier: a multinomial logistic regression over hashed n-grams.

A source of one kind of text gets its domain from the config's source rules
(`dataprep.domains`); a source that mixes kinds (a web crawl, a dump of many books and manuals)
needs the domain read from each document. This model does that from the text alone:

* features: Han character n-grams (1..`han_order`, only n-grams wholly of Han characters) and
  the words and punctuation marks of everything else (1..`word_order`-grams, Latin words
  lower-cased, digits -> 0), hashed into 2^`bits` buckets (`dataprep.learn.ngram_buckets`, as
  the quality score's LMs), counted, log(1 + count), the row L2-normalised;
* classifier: `dataprep.learn.Softmax`, class-balanced so a small domain is not drowned by a big
  one. Its confidence is the top class's probability; under `domain.min_confidence` the tagger
  keeps the source's tag. Confidence marks documents between the trained domains, not documents
  of none of them: there is no "other" class, and a text of an untrained domain in a language
  the model knows is put, confidently, in the trained domain of that language it is closest to.

Recipe (`dataprep domain train`, `dataprep.domain_train`): weak labels, no hand labelling:
records carrying a `domain` field, and records whose source a `domain.rules` entry maps to a
domain (sources a rule marks `mixed`, and sources no rule names, are unlabelled and left out).
Text is normalised as the run's normalize stage does; one model serves both languages. The fit:
`Softmax.fit` defaults (L2 1e-4, 100 accelerated steps), 2^18 buckets (`--bits`): 0.9 MB for
three domains, about 20 s on the bundled 2,400 documents. `--holdout` leaves documents out by a
hash of their id (as `dataprep quality train`) and the command prints held-out accuracy per domain.

No model ships. On the bundled corpora (configs/domain/sample_labels.yaml: literature, sayings,
technical) held-out documents are tagged right 0.97-0.99 per domain, but their sources were in
training. Scored by a model that never saw their source, the novel, the English manual, the Tang
poems and the Chinese sayings got 0-4% of their documents right, at mean confidence 0.86-0.97:
no other source of that domain in that language was left
(`benchmarks/bench_domains.py`, docs/BENCHMARKS.md "Domain classifier"). A label there names
its one or two sources, not a domain a default model could carry to another corpus: train on
labelled sources of the corpus to be tagged.

The model file is a compressed .npz of plain arrays: the domain names, the featurisation
settings, the weights (float32, buckets x domains) and the recipe.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from common.config import ConfigError
from dataprep.learn import SparseRows, Softmax, lm_codes, load_npz, ngram_buckets, save_npz
from dataprep.stages.minhash import is_han
from dataprep.stages.normalize import HAN_RE

TRAIN_COMMAND = "dataprep domain train"


@dataclasses.dataclass(frozen=True)
class Featurizer:
    """How a text becomes hashed n-gram features; saved in the model file."""
    bits: int = 18            # 2^18 buckets: collisions rare for the tens of thousands of n-grams a domain has
    han_order: int = 2        # Han characters 1..2-grams: a Chinese word is mostly one or two characters
    word_order: int = 1       # words alone: a domain shows in its vocabulary more than in word order

    def __call__(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(bucket indices, values) of one text: log(1 + count), L2-normalised."""
        codes = lm_codes(text, "char")[:-1]                          # the end mark is not text
        han = is_han(codes)
        # the run of Han characters ending at each position: a k-gram counts where it is >= k long
        position = np.arange(1, len(codes) + 1)
        run = position - np.maximum.accumulate(np.where(han, 0, position))
        grams = ngram_buckets(codes, self.han_order, self.bits)[:, self.han_order - 1:]
        parts = [grams[k][run >= k + 1] for k in range(self.han_order)]
        words = lm_codes(HAN_RE.sub(" ", text), "word")[:-1]
        parts += list(ngram_buckets(words, self.word_order, self.bits)[:, self.word_order - 1:])
        index, counts = np.unique(np.concatenate(parts), return_counts=True)
        values = np.log1p(counts.astype(np.float32))
        return index, values / max(float(np.linalg.norm(values)), 1e-12)

    def rows(self, texts: Sequence[str]) -> SparseRows:
        return SparseRows.stack([self(t) for t in texts])


@dataclasses.dataclass
class DomainModel:
    domains: tuple[str, ...]
    clf: Softmax
    featurizer: Featurizer = dataclasses.field(default_factory=Featurizer)
    recipe: str = ""

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], featurizer: Featurizer = Featurizer()) -> "DomainModel":
        domains = tuple(sorted(set(labels)))
        if len(domains) < 2:
            raise ConfigError(f"domain labels name {len(domains)} domain(s) {list(domains)}: a classifier needs at "
                              "least two (a `domain` field in the records, or domain.rules matching their sources)")
        y = np.array([domains.index(label) for label in labels])
        clf = Softmax.fit(featurizer.rows(texts), y, len(domains), 1 << featurizer.bits)
        return cls(domains, clf, featurizer)

    def predict(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Each text's most probable domain and that probability (the confidence)."""
        if not texts:
            return [], np.zeros(0)
        p = self.clf.predict(self.featurizer.rows(texts))
        return [self.domains[i] for i in p.argmax(axis=1)], p.max(axis=1)

    def save(self, path: str | Path) -> None:
        f = self.featurizer
        save_npz(path, {"domains": np.array(self.domains), "recipe": np.array(self.recipe),
                        "featurizer": np.array([f.bits, f.han_order, f.word_order], dtype=np.int64),
                        **self.clf.arrays("clf")})

    @classmethod
    def load(cls, path: str | Path) -> "DomainModel":
        data = load_npz(path, TRAIN_COMMAND)
        missing = [k for k in ("domains", "featurizer", "clf.weights", "clf.bias") if k not in data]
        if missing:
            raise ConfigError(f"{path}: not a domain model (no {', '.join(missing)}): make one with `{TRAIN_COMMAND}`")
        bits, han_order, word_order = (int(v) for v in data["featurizer"])
        model = cls(tuple(data["domains"].tolist()), Softmax.from_arrays(data, "clf"),
                    Featurizer(bits, han_order, word_order), str(data.get("recipe", "")))
        if model.clf.weights.shape != (1 << bits, len(model.domains)):
            raise ConfigError(f"{path}: weights of shape {model.clf.weights.shape} do not fit {len(model.domains)} "
                              f"domains over 2^{bits} buckets: retrain it with `{TRAIN_COMMAND}`")
        return model


def accuracy_by_domain(model: DomainModel, texts: Sequence[str], labels: Sequence[str],
                       min_confidence: float = 0.0) -> dict[str, dict[str, float]]:
    """Per true domain: documents, share predicted right, and at `min_confidence` the share
    tagged (confident) and the share of those right."""
    predicted, confidence = model.predict(texts)
    out = {}
    for domain in sorted(set(labels)):
        mine = [i for i, label in enumerate(labels) if label == domain]
        right = [predicted[i] == domain for i in mine]
        sure = [i for i in mine if confidence[i] >= min_confidence]
        out[domain] = {"docs": len(mine), "accuracy": sum(right) / len(mine),
                       "tagged": len(sure) / len(mine),
                       "tagged_accuracy": sum(predicted[i] == domain for i in sure) / len(sure) if sure else 0.0}
    return out
