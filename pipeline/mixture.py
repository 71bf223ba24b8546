"""A weighted blend of packed corpora at sampling time (the Megatron-LM blend: `--data-path w1 p1 w2 p2`).

The training config lists sources (`data.sources: [{path, weight}]`, one packed directory each,
e.g. one per domain). A blend "epoch" is as many samples as all sources hold together (N); of
those, source d gets c_d = its weight share of N (largest remainder, so they sum to N). Inside
the epoch the sources are interleaved like Megatron's blending index: the k-th sample of source d
sits at time (k + 0.5) / c_d, and positions follow the times, so every prefix of the epoch holds
each source within one sample of its share. Source d's j-th draw over the run is its sample
perm(seed, d, j // n_d)[j % n_d]: a source drawn more often than it holds is repeated, reshuffled
each pass; one drawn less is subsampled.

The order is a pure function of (seed, epoch), so `pipeline.data.TrainBatches` deals it to the
data-parallel ranks exactly like a single corpus's order: independent of the number of ranks, and
a resumed run replays the same samples. An id of the blend is `offset_d + sample` (offset_d: the
samples of the sources before d), so `blend[id]` reads one source's sample.
"""
from __future__ import annotations

import hashlib
import json
from typing import Callable

from pathlib import Path

import numpy as np

from common.config import ConfigError
from dataprep.packed import PackedCorpus, TrainingSamples, read_manifest, sample_order
from pipeline.config import TrainConfig

SAME_TOKENIZER = ("vocab_size", "eos_id", "tokenizer_sha256", "dtype")


def apportion(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to `total` in proportion to `weights` (largest remainder)."""
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return counts


class BlendedSamples:
    """Samples of several `TrainingSamples` drawn by weight; `order(seed, epoch)` lists one epoch's ids."""

    def __init__(self, sources: list[TrainingSamples], weights: list[float], names: list[str] | None = None):
        if len(sources) != len(weights) or not sources:
            raise ValueError("one weight per source, at least one source")
        self.sources, self.names = sources, names or [str(i) for i in range(len(sources))]
        self.weights = np.asarray(weights, dtype=np.float64) / float(sum(weights))
        self.sizes = np.array([len(s) for s in sources], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.seq_len = sources[0].seq_len
        self.per_epoch = apportion(self.weights, int(self.sizes.sum()))     # c_d

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> np.ndarray:
        d = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.sources[d][i - int(self.offsets[d])]

    def source_of(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, ids, side="right") - 1

    def order(self, seed: int, epoch: int) -> np.ndarray:
        """The ids of blend epoch `epoch`, in training order."""
        times, owner, draw = [], [], []
        for d, count in enumerate(self.per_epoch.tolist()):
            k = np.arange(count, dtype=np.int64)
            times.append((k + 0.5) / count)
            owner.append(np.full(count, d, dtype=np.int64))
            draw.append(self._samples(seed, d, epoch * count + k))
        position = np.lexsort((np.concatenate(owner), np.concatenate(times)))   # by time, ties by source
        return np.concatenate(draw)[position]

    def _samples(self, seed: int, d: int, draws: np.ndarray) -> np.ndarray:
        """Blend ids of source d's draws number `draws` (each pass over the source reshuffled)."""
        n = int(self.sizes[d])
        out = np.empty(len(draws), dtype=np.int64)
        passes = draws // n
        for p in np.unique(passes).tolist():
            perm = np.random.default_rng([seed, d, p]).permutation(n)
            at = passes == p
            out[at] = perm[draws[at] % n]
        return out + self.offsets[d]

    def shares(self, ids: np.ndarray) -> np.ndarray:
        """Fraction of `ids` drawn from each source."""
        return np.bincount(self.source_of(ids), minlength=len(self.sources)) / max(1, len(ids))


class InOrder:
    """A blend's first epoch as a plain sequence: the validation set takes its first samples
    (`pipeline.data.eval_micro_batches`), so they hold every source by weight."""

    def __init__(self, blend: BlendedSamples, seed: int):
        self.blend, self.ids, self.seq_len = blend, blend.order(seed, 0), blend.seq_len

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.blend[int(self.ids[i])]


def epoch_order(samples: TrainingSamples | BlendedSamples, seed: int, epoch: int) -> np.ndarray:
    """The sample order `TrainBatches` deals from: a blend's own, else one shuffle of the corpus."""
    if isinstance(samples, BlendedSamples):
        return samples.order(seed, epoch)
    return sample_order(len(samples), seed, epoch)


def _source_paths(cfg: TrainConfig) -> list[str]:
    return [s.path for s in cfg.data.sources] or [cfg.data.packed_dir]


def load(cfg: TrainConfig, split: str) -> TrainingSamples | BlendedSamples | InOrder | None:
    """The split's samples: the single packed_dir's, or the blend of data.sources (None: too small).
    A source without a validation split's sample is left out of the validation blend."""
    loaded = []
    for path in _source_paths(cfg):
        corpus = PackedCorpus(path, split)
        if corpus.vocab_size > cfg.model.vocab_size:
            raise ConfigError(f"{path}: tokenizer vocabulary ({corpus.vocab_size}) is larger than "
                              f"model.vocab_size ({cfg.model.vocab_size})")
        loaded.append(TrainingSamples(corpus, cfg.data.seq_len))
    if not cfg.data.sources:
        return loaded[0] if len(loaded[0]) else None
    empty = [s.path for s, samples in zip(cfg.data.sources, loaded) if not len(samples)]
    if empty and split == "train":
        raise ConfigError(f"data.sources: {empty[0]}: its train split is too small for one sample of "
                          f"data.seq_len {cfg.data.seq_len}")
    kept = [(s, samples) for s, samples in zip(cfg.data.sources, loaded) if len(samples)]
    if not kept:
        return None
    blend = BlendedSamples([k[1] for k in kept], [k[0].weight for k in kept], [source_name(k[0]) for k in kept])
    return blend if split == "train" else InOrder(blend, cfg.data.data_seed)


def source_name(source) -> str:
    """The name a source's metrics carry (val_loss/<name>): its own, else its directory's."""
    return source.name or Path(source.path).name


def data_fingerprint(cfg: TrainConfig, single: Callable[[TrainConfig, dict], dict]) -> dict:
    """`single` (checkpoint.data_fingerprint) of one packed directory, or of the blend: every source's
    content digest and weight, which fix the order together."""
    paths = _source_paths(cfg)
    manifests = [read_manifest(p) for p in paths]
    for path, manifest in zip(paths[1:], manifests[1:]):
        differs = [k for k in SAME_TOKENIZER if manifest.get(k) != manifests[0].get(k)]
        if differs:
            raise ConfigError(f"data.sources: {path} was packed with another tokenizer than {paths[0]} "
                              f"({', '.join(differs)} differ): pack every source with the same tokenizer")
    prints = [single(cfg, m) for m in manifests]
    if not cfg.data.sources:
        return prints[0]
    blend = [[p["packed_sha256"], s.weight] for p, s in zip(prints, cfg.data.sources)]
    digest = hashlib.sha256(json.dumps(blend).encode()).hexdigest()[:16]
    return {**prints[0], "packed_sha256": digest}


def describe(blend: BlendedSamples, seed: int, steps: int, global_batch: int) -> list[str]:
    """One line per source: target share, realised share over the run's `steps`, passes over the source.
    The samples are those `TrainBatches` deals: each epoch's first whole global batches."""
    usable = len(blend) // global_batch * global_batch
    total = steps * global_batch
    epochs = -(-total // usable) if usable else 0
    ids = np.concatenate([np.zeros(0, np.int64), *(blend.order(seed, e)[:usable] for e in range(epochs))])[:total]
    realised = blend.shares(ids)
    lines = []
    for d, name in enumerate(blend.names):
        drawn = int(round(realised[d] * len(ids)))
        lines.append(f"  {name}: weight share {blend.weights[d]:.4f}, realised {realised[d]:.4f} over {len(ids)} "
                     f"samples, {drawn / blend.sizes[d]:.2f} passes over its {blend.sizes[d]} samples")
    return lines
