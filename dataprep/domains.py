"""Domain tags: which domain (news, encyclopedic, code, forum, books ...) a document belongs to.

A domain comes from the document's source by the config's rules, the first whose glob matches
the input path (fnmatch: `*` also crosses `/`), else `default`. The tag is a column of the clean
shards, and the manifest counts documents and characters per domain (`by_domain`), read and kept,
the way it counts them per source: domains are a function of the source, so they are summed from
the per-source counts.

    domain:
      rules:
        - {match: "*/news/*", domain: news}
        - {match: "*wiki*", domain: encyclopedic}
      default: general
"""
from __future__ import annotations

import dataclasses
import fnmatch
import functools

from common.config import ConfigError


@dataclasses.dataclass
class DomainRule:
    match: str        # glob on the input file's path, e.g. "*/news/*" or "raw/wiki-*.jsonl.gz"
    domain: str


@dataclasses.dataclass
class DomainConfig:
    rules: list[DomainRule] = dataclasses.field(default_factory=list)
    default: str = "general"

    def validate(self) -> None:
        for i, rule in enumerate(self.rules):
            if not rule.match or not rule.domain:
                raise ConfigError(f"domain.rules[{i}]: match and domain must both be non-empty")
        if not self.default:
            raise ConfigError("domain.default must be non-empty (e.g. general)")

    def of(self, source: str) -> str:
        return _domain_of(tuple((r.match, r.domain) for r in self.rules), self.default, source)


@functools.lru_cache(maxsize=4096)
def _domain_of(rules: tuple[tuple[str, str], ...], default: str, source: str) -> str:
    """Cached: a shard's documents share a handful of sources."""
    return next((domain for pattern, domain in rules if fnmatch.fnmatch(source, pattern)), default)


def by_domain(by_source: dict[str, dict[str, int]], cfg: DomainConfig) -> dict[str, dict[str, int]]:
    """The manifest's per-source counts summed per domain."""
    out: dict[str, dict[str, int]] = {}
    for source, counts in by_source.items():
        entry = out.setdefault(cfg.of(source), {})
        for key, n in counts.items():
            entry[key] = entry.get(key, 0) + n
    return dict(sorted(out.items()))
