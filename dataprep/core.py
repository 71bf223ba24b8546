"""The contract every data stage follows: documents in, documents out, counts beside.

A stage never drops a document silently: it either yields it (kept, possibly edited) or
calls `stats.remove(doc, reason)`. The runner checks at the end of a run that
documents in == kept + removed + quarantined.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, Iterable, Iterator

from dataprep.histograms import Bins, Cut, Histogram


@dataclasses.dataclass
class Document:
    id: str
    text: str
    source: str = ""          # input file the document came from
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Removal:
    id: str
    stage: str
    reason: str
    source: str = ""
    snippet: str = ""        # the first characters of the removed text, for the report
    detail: str = ""         # what the stage found, when the reason alone does not say (e.g. the eval item matched)

    def to_json(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        if not self.detail:
            del record["detail"]
        return record


@dataclasses.dataclass
class Quarantine:
    file: str
    line: int | None
    error: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class StageStats:
    """Counts for one stage: documents seen, kept, removed by reason, plus free-form counters and
    the histograms of what the stage measured against its cuts (dataprep/histograms.py)."""

    def __init__(self, stage: str, keep_snippets: int = 200, keep_examples: int = 5):
        self.stage = stage
        self.seen = 0
        self.kept = 0
        self.removed: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()   # e.g. pii.email replaced, lines removed
        self.examples: dict[str, list[str]] = {}   # counter key -> first few examples (removed lines...)
        self.removals: list[Removal] = []
        self.metrics: dict[str, Histogram] = {}
        self._snippet_chars = keep_snippets
        self._keep_examples = keep_examples

    def remove(self, doc: Document, reason: str, detail: str = "") -> None:
        self.removed[reason] += 1
        self.removals.append(Removal(doc.id, self.stage, reason, doc.source,
                                     doc.text[: self._snippet_chars], detail))

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] += n

    def measure(self, metric: str, value: float, bins: Bins, cuts: tuple[Cut, ...] = ()) -> None:
        """Count a document's value of `metric` (e.g. "zh.chars") in fixed bins, and whether it
        falls past each cut; the report plots the distribution with the cuts. Bins and cuts are
        those of the metric's first call."""
        hist = self.metrics.get(metric)
        if hist is None:
            hist = self.metrics[metric] = Histogram(bins, cuts)
        hist.add(value)

    def example(self, key: str, text: str) -> None:
        """Keep `text` as an example of `key` (a removed line, a scrubbed span in context) for the
        report; only the first few per key are kept, so memory stays bounded."""
        kept = self.examples.setdefault(key, [])
        if len(kept) < self._keep_examples:
            kept.append(text[: self._snippet_chars])

    def to_json(self) -> dict[str, Any]:
        return {"seen": self.seen, "kept": self.kept, "removed": dict(self.removed),
                "counters": dict(self.counters), "examples": self.examples,
                "metrics": {k: h.to_json() for k, h in sorted(self.metrics.items())}}


class Stage:
    """One step over documents. Subclasses implement `apply`; `process` does the accounting."""

    name: str = "stage"
    # doc.meta keys this stage sets that the clean output keeps as columns, with their Arrow
    # type names (e.g. {"quality_score": "float64"}): users re-threshold without rerunning
    columns: dict[str, str] = {}

    def apply(self, doc: Document, stats: StageStats) -> Document | None:
        """Return the (possibly edited) document to keep it, or call stats.remove and return None."""
        raise NotImplementedError

    def process(self, docs: Iterable[Document], stats: StageStats) -> Iterator[Document]:
        for doc in docs:
            stats.seen += 1
            before = sum(stats.removed.values())
            out = self.apply(doc, stats)
            if out is None:
                if sum(stats.removed.values()) == before:
                    raise RuntimeError(f"stage {self.name} dropped {doc.id} without a reason")
                continue
            stats.kept += 1
            yield out
