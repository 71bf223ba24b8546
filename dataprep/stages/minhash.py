"""MinHash near-duplicate detection: signatures per shard, LSH band by band, union-find clusters.

Shingles: the text is dedup-normalised (lowercase, digits -> 0, punctuation and symbols incl.
CJK ones -> space) and split into tokens, where a Han character is one token and any other
run of non-space characters (a Latin word) is one token. A document whose tokens are mostly
Han uses `han_ngram`-token shingles (character n-grams), otherwise `word_ngram` (word
n-grams). Whitespace word-splitting would make a Chinese paragraph one giant "word", so
edited copies would share no shingle; character n-grams see the shared text.

LSH runs one band at a time over all signatures (memory-mapped per-shard .npy files): the
band's rows are folded into one 64-bit key per document, documents are grouped by key,
each bucket member is paired with the bucket's first member and with its predecessor,
and the bucket table is dropped before the next band. So memory is O(documents), not
O(documents x bands) as in datasketch's in-memory MinHashLSH (datasketch issue #207).
A candidate pair joins a cluster only if its estimated Jaccard is >= threshold. Pairs
already in one cluster are not re-checked.

Which document survives: the one that comes first in (source file, line) order, i.e. the
smallest global index, matching exact dedup's "keep first". Members of a cluster are
linked by chains of similar pairs, so a member may be less similar to the kept document
than the threshold; clusters.jsonl records each member's similarity to the kept one.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path
from typing import Iterator

import numpy as np
import xxhash

from dataprep.stages.normalize import HAN, HAN_RE

TOKEN_RE = re.compile(f"[{HAN}]|[^\\s{HAN}]+")
_FOLD_PRIME = np.uint64(0x100000001B3)       # FNV-1a 64-bit prime: folds band rows into one key


@functools.cache
def _dedup_table() -> dict[int, str]:
    """str.translate table: punctuation and symbols -> space, every decimal digit -> "0"."""
    table = {}
    for cp in range(0x10000):       # the BMP: punctuation beyond it is too rare to matter
        cat = unicodedata.category(chr(cp))
        if cat[0] in "PS":
            table[cp] = " "
        elif cat == "Nd":
            table[cp] = "0"
    return table


def dedup_normalize(text: str) -> str:
    return text.lower().translate(_dedup_table())


def _tokens(text: str, han_ngram: int, word_ngram: int) -> tuple[list[str], int]:
    """Tokens of the dedup-normalised text and the n-gram size for it (at most the token count)."""
    norm = dedup_normalize(text)
    tokens = TOKEN_RE.findall(norm)
    n = han_ngram if 2 * len(HAN_RE.findall(norm)) >= len(tokens) else word_ngram
    return tokens, min(n, len(tokens))


def shingles(text: str, han_ngram: int, word_ngram: int) -> list[bytes]:
    """The n-gram shingles of a text, readable (empty if it has no tokens after normalisation)."""
    tokens, n = _tokens(text, han_ngram, word_ngram)
    return [" ".join(tokens[i:i + n]).encode("utf-8") for i in range(len(tokens) - n + 1)] if tokens else []


def shingle_hashes(text: str, han_ngram: int, word_ngram: int) -> list[int]:
    """32-bit hashes of the same n-grams as `shingles`, without building the n-gram strings.

    Each token is hashed once (xxh3-64); an n-gram's hash folds its tokens' hashes in order
    (FNV-style xor-multiply, vectorised over all positions) and keeps the well-mixed top 32
    bits. Joining n-gram strings was 60% of the signature time.
    """
    tokens, n = _tokens(text, han_ngram, word_ngram)
    if not tokens:
        return []
    token_hashes = np.fromiter((xxhash.xxh3_64_intdigest(t.encode("utf-8")) for t in tokens),
                               dtype=np.uint64, count=len(tokens))
    positions = len(tokens) - n + 1
    folded = np.zeros(positions, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            folded = (folded ^ token_hashes[j:j + positions]) * _FOLD_PRIME
    return (folded >> np.uint64(32)).tolist()


def _identity(value: int) -> int:
    return value


def signatures(texts: list[str], num_perm: int, seed: int, han_ngram: int, word_ngram: int,
               batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(n, num_perm) uint32 MinHash signatures and a mask of texts that had any shingle.

    Texts without shingles (only punctuation, say) get a zero row and are left out of LSH:
    their empty signatures would otherwise all look identical.
    """
    from datasketch import LeanMinHash, MinHash   # datasketch imports scipy (~2 s): only when needed

    sig = np.zeros((len(texts), num_perm), dtype=np.uint32)
    sets = [shingle_hashes(t, han_ngram, word_ngram) for t in texts]
    valid = np.array([bool(s) for s in sets], dtype=bool)
    rows = np.flatnonzero(valid)
    for lo in range(0, len(rows), batch_size):
        chunk = rows[lo:lo + batch_size]
        hashes = MinHash.bulk([sets[i] for i in chunk], num_perm=num_perm, seed=seed, hashfunc=_identity)
        sig[chunk] = np.stack([LeanMinHash(m).hashvalues for m in hashes])
    return sig, valid


def band_params(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising weighted false positive + negative probability (datasketch's optimiser)."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, fp_weight, fn_weight)


class SignatureStore:
    """All shards' signatures as one indexable table, memory-mapped: global index = shard offset + row."""

    def __init__(self, paths: list[Path]):
        self.arrays = [np.load(p, mmap_mode="r") for p in paths]
        sizes = [len(a) for a in self.arrays]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.size = int(self.offsets[-1])

    def columns(self, lo: int, hi: int) -> np.ndarray:
        """Columns [lo, hi) of every row, as one (size, hi - lo) array."""
        parts = [np.asarray(a[:, lo:hi]) for a in self.arrays]
        return np.concatenate(parts) if parts else np.zeros((0, hi - lo), dtype=np.uint32)

    def rows(self, index: np.ndarray) -> np.ndarray:
        shard = np.searchsorted(self.offsets, index, side="right") - 1
        width = self.arrays[0].shape[1] if self.arrays else 0
        out = np.empty((len(index), width), dtype=np.uint32)
        for s in np.unique(shard):
            mask = shard == s
            out[mask] = self.arrays[s][index[mask] - self.offsets[s]]
        return out


def similarity(store: SignatureStore, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of pairs (a[i], b[i]): the share of equal MinHash values."""
    if len(a) == 0:
        return np.zeros(0)
    return (store.rows(a) == store.rows(b)).mean(axis=1)


class UnionFind:
    """Disjoint sets whose root is always the smallest member (the document that is kept)."""

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return int(x)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def roots(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)


def band_candidates(band: np.ndarray, alive: np.ndarray) -> Iterator[tuple[int, int]]:
    """Candidate pairs of one band: documents sharing the band's key (star + chain per bucket)."""
    keys = np.zeros(len(alive), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in band[alive].T:
            keys = (keys ^ col.astype(np.uint64)) * _FOLD_PRIME
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    same = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1]) + 1   # positions continuing a bucket
    if len(same) == 0:
        return
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    head = starts[np.searchsorted(starts, same, side="right") - 1]
    docs = alive[order]
    yield from zip(docs[head].tolist(), docs[same].tolist())
    chain = same[same - 1 != head]
    yield from zip(docs[chain - 1].tolist(), docs[chain].tolist())


def lsh_clusters(store: SignatureStore, alive: np.ndarray, threshold: float, bands: int, rows: int,
                 progress=None) -> UnionFind:
    """Union-find over all documents; `alive` (global indices, ascending) take part in LSH."""
    uf = UnionFind(store.size)
    for b in progress(range(bands)) if progress else range(bands):
        band = store.columns(b * rows, (b + 1) * rows)
        pairs = [(x, y) for x, y in band_candidates(band, alive) if uf.find(x) != uf.find(y)]
        del band
        if not pairs:
            continue
        a, c = (np.array(col, dtype=np.int64) for col in zip(*pairs))
        similar = similarity(store, a, c) >= threshold
        for x, y in zip(a[similar].tolist(), c[similar].tolist()):
            uf.union(x, y)
    return uf
