"""Fixed-bin histograms of what a filter measures, with its cuts: the report's "distribution of
each filter's metric".

A stage calls `stats.measure(metric, value, bins, cuts)` (dataprep/core.py) for each document it
measures. The counts live in fixed bins, so a histogram is the same size for ten documents or ten
billion, and shards' histograms add up: each shard's stats.json holds its own, the finalize step
sums them into the manifest (`stages.<stage>.metrics`). Each cut records how many measured values
fell past it (`past`), exactly, whatever the bins. Two bin sets serve the built-in filters:
FRACTION, 100 equal bins on [0, 1], for shares; COUNT, a bin [0, 1) then 4 per octave up to 2^28,
for counts and lengths; RATIO, a bin [0, 2^-8) then 4 per octave up to 2^28, for ratios without an
upper bound. A value past the last edge counts in the last bin.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Literal

import numpy as np


@dataclasses.dataclass(frozen=True)
class Bins:
    kind: Literal["linear", "log"]
    lo: float                  # linear: the first edge; log: the end of the [0, lo) bin
    hi: float                  # the last edge
    per: int                   # linear: bins; log: bins per octave

    @functools.cached_property
    def size(self) -> int:
        if self.kind == "linear":
            return self.per
        return 1 + round(math.log2(self.hi / self.lo) * self.per)

    def edges(self) -> np.ndarray:
        if self.kind == "linear":
            return np.linspace(self.lo, self.hi, self.per + 1)
        return np.concatenate([[0.0], self.lo * 2.0 ** (np.arange(self.size) / self.per)])

    def index(self, value: float) -> int:
        """The bin of a value: below the first edge (or NaN) the first, past the last the last."""
        if self.kind == "linear":
            x = (value - self.lo) / (self.hi - self.lo) * self.per if value > self.lo else 0.0
        else:
            x = 1 + math.log2(value / self.lo) * self.per if value >= self.lo else 0.0
        return int(min(x, self.size - 1))


FRACTION = Bins("linear", 0.0, 1.0, 100)
COUNT = Bins("log", 1.0, 2.0 ** 28, 4)
RATIO = Bins("log", 2.0 ** -8, 2.0 ** 28, 4)


@dataclasses.dataclass(frozen=True)
class Cut:
    """A setting a metric is compared with: documents are kept at values >= it ("min_*" settings)
    or <= it ("max_*" settings)."""
    setting: str               # the dotted config key, e.g. "quality.zh.min_chars"
    value: float

    @property
    def keep(self) -> str:
        names = [part for part in self.setting.split(".") if not part.isdigit()]
        if "max" in names[-1]:
            return "<="
        if "min" in names[-1]:
            return ">="
        raise ValueError(f"cut {self.setting!r}: the setting's name must say min or max")

    def fails(self, value: float) -> bool:
        return value > self.value if self.keep == "<=" else value < self.value


class Histogram:
    """One metric's counts per bin and per cut."""

    def __init__(self, bins: Bins, cuts: tuple[Cut, ...] = ()):
        self.bins, self.cuts = bins, cuts
        self.counts = [0] * bins.size
        self.past = [0] * len(cuts)
        self._tests = [(cut.value, cut.keep == "<=") for cut in cuts]   # add() runs per document and rule

    def add(self, value: float) -> None:
        self.counts[self.bins.index(value)] += 1
        for i, (cut, upper) in enumerate(self._tests):
            if value > cut if upper else value < cut:
                self.past[i] += 1

    def to_json(self) -> dict[str, Any]:
        return {"bins": dataclasses.asdict(self.bins), "counts": self.counts,
                "cuts": [{"setting": c.setting, "value": c.value, "keep": c.keep, "past": n}
                         for c, n in zip(self.cuts, self.past)]}


def merge(total: dict[str, Any] | None, part: dict[str, Any]) -> dict[str, Any]:
    """Two histograms' JSON added up (the same metric of two shards of one run)."""
    if total is None:
        return {**part, "counts": list(part["counts"]), "cuts": [dict(c) for c in part["cuts"]]}
    same_cuts = [(c["setting"], c["value"]) for c in total["cuts"]] == [(c["setting"], c["value"]) for c in part["cuts"]]
    if total["bins"] != part["bins"] or not same_cuts:
        raise ValueError(f"histograms with other bins or cuts cannot be added: {total['bins']} {total['cuts']} "
                         f"vs {part['bins']} {part['cuts']}")
    total["counts"] = [a + b for a, b in zip(total["counts"], part["counts"])]
    for mine, theirs in zip(total["cuts"], part["cuts"]):
        mine["past"] += theirs["past"]
    return total


def edges_of(record: dict[str, Any]) -> np.ndarray:
    """The bin edges of a histogram's JSON."""
    return Bins(**record["bins"]).edges()
