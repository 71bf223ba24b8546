"""Domain tags: which domain (news, encyclopedic, code, forum, books ...) a document belongs to.

A domain comes from the document's source by the config's rules, the first whose glob matches
the input path (fnmatch: `*` also crosses `/`), else `default`. With `classifier` (a model of
`dataprep domain train`, `dataprep.domain_model`), the documents of a source no rule names, and
of a source a rule marks `mixed` (a crawl, a dump of many kinds of text), are tagged by the
classifier instead, each by its own text: its most probable domain when that probability is
>= `min_confidence`, else the tag the source would get without a classifier (`default`, or
`mixed`). Sources a rule maps to a domain keep it: a rule is a statement about the source,
the classifier a guess. Without a classifier, tags are exactly the source rules'.

Documents are tagged in the read step, after normalisation; the tag is a column of the clean
shards, and the manifest counts documents and characters per domain (`by_domain`), read and
kept, document by document.

    domain:
      rules:
        - {match: "*/news/*", domain: news}
        - {match: "*wiki*", domain: encyclopedic}
        - {match: "*/crawl/*", domain: mixed}
      default: general
      classifier: models/domains.npz
      min_confidence: 0.6
"""
from __future__ import annotations

import dataclasses
import fnmatch
import functools
from pathlib import Path
from typing import Sequence

from common.config import ConfigError
from dataprep.domain_model import TRAIN_COMMAND, DomainModel

MIXED = "mixed"         # a rule's domain for a source of many domains: its documents are classified


@dataclasses.dataclass
class DomainRule:
    match: str        # glob on the input file's path, e.g. "*/news/*" or "raw/wiki-*.jsonl.gz"
    domain: str       # a domain name, or `mixed`: the classifier (if any) tags each document


@dataclasses.dataclass
class DomainConfig:
    rules: list[DomainRule] = dataclasses.field(default_factory=list)
    default: str = "general"
    # a `dataprep domain train` model (.npz): tags the documents of sources no rule names or a rule
    # marks `mixed`; "" = source rules only
    classifier: str = ""
    # the classifier's top probability below which a document keeps its source's tag (default or
    # mixed): on the bundled corpora 0.6 left 2.5% of held-out documents untagged and the tagged
    # ones 0.991 right (0.988 at 0; docs/BENCHMARKS.md, "Domain classifier")
    min_confidence: float = 0.6

    def validate(self) -> None:
        for i, rule in enumerate(self.rules):
            if not rule.match or not rule.domain:
                raise ConfigError(f"domain.rules[{i}]: match and domain must both be non-empty")
        if not self.default:
            raise ConfigError("domain.default must be non-empty (e.g. general)")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"domain.min_confidence is a probability in [0, 1], got {self.min_confidence!r}")
        if self.classifier:
            if not Path(self.classifier).is_file():
                raise ConfigError(f"domain.classifier {self.classifier!r} is not a file: train one with "
                                  f"`{TRAIN_COMMAND} --input FILES --rules RULES.yaml -o MODEL.npz`, "
                                  "or leave it empty to tag by the source rules alone")
            _model(self.classifier)      # a bad file fails here, naming itself, not in a worker

    def rule_of(self, source: str) -> str | None:
        """The domain of the first rule matching `source`, None when none does."""
        return _rule_of(tuple((r.match, r.domain) for r in self.rules), source)

    def of(self, source: str) -> str:
        """The source's tag: its rule's domain, else the default."""
        return self.rule_of(source) or self.default

    def classified(self, source: str) -> bool:
        """Whether the classifier (when there is one) tags this source's documents."""
        return self.rule_of(source) in (None, MIXED)

    def tag(self, texts: Sequence[str], sources: Sequence[str]) -> list[str]:
        """The domain of each document (text, source)."""
        tags = [self.of(source) for source in sources]
        if not self.classifier:
            return tags
        todo = [i for i, source in enumerate(sources) if self.classified(source)]
        predicted, confidence = _model(self.classifier).predict([texts[i] for i in todo])
        for i, domain, p in zip(todo, predicted, confidence.tolist()):
            if p >= self.min_confidence:
                tags[i] = domain
        return tags


@functools.lru_cache(maxsize=4096)
def _rule_of(rules: tuple[tuple[str, str], ...], source: str) -> str | None:
    """Cached: a shard's documents share a handful of sources."""
    return next((domain for pattern, domain in rules if fnmatch.fnmatch(source, pattern)), None)


@functools.lru_cache(maxsize=2)
def _model(path: str) -> DomainModel:
    """Loaded once per process: the read step runs once per shard."""
    return DomainModel.load(path)
