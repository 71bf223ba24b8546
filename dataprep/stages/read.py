"""The read stage's checks: what `dataprep run` removes right after reading (dataprep/reader.py)."""
from __future__ import annotations

from dataprep.core import Document, Stage, StageStats
from dataprep.histograms import COUNT, Cut


class ReadChecks(Stage):
    """Removes documents that are empty or longer than the cap before any other work."""

    name = "read"

    def __init__(self, max_doc_chars: int):
        self.max_doc_chars = max_doc_chars

    def apply(self, doc: Document, stats: StageStats) -> Document | None:
        stats.measure("chars", len(doc.text), COUNT, (Cut("read.max_doc_chars", self.max_doc_chars),))
        if len(doc.text) > self.max_doc_chars:
            stats.remove(doc, "too_large")
            return None
        if not doc.text.strip():
            stats.remove(doc, "empty")
            return None
        return doc
