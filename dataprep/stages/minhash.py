"""MinHash near-duplicate detection: signatures per shard, LSH band by band, union-find clusters.

Shingles: the text is dedup-normalised (NFKC, so full-width letters and digits become ASCII;
lowercase; digits -> 0; punctuation and symbols incl. CJK ones -> space). With
`latin_char_ngram` > 0 (the default) it is then one character stream (whitespace runs -> one
space, no space next to a Han character) and a shingle starts at every character: `han_ngram`
characters from a Han character, `latin_char_ngram` from any other. So Chinese text gets Han
character n-grams, English text character n-grams across word boundaries, and a mixed
document a mix, decided position by position: an added English header cannot switch a
Chinese document with many English commands to another kind of shingle. Character n-grams
survive what breaks Latin word n-grams: an edited or misspelt word loses about
(word length + n) / (word length + 1) shingles per character shingle instead of n, and
re-wrapped lines, curly quotes and full-width forms normalise away.

With `latin_char_ngram` 0 (the setting before issue 14) the text is split into tokens, a Han
character or a run of other non-space characters (a Latin word) each, and a document whose
tokens are mostly Han uses `han_ngram`-token shingles, any other `word_ngram` (word n-grams).
Whitespace word-splitting would make a Chinese paragraph one giant "word", so edited copies
would share no shingle; character n-grams see the shared text.

LSH works one band at a time over all signatures (memory-mapped per-shard .npy files): the
band's rows are folded into one 64-bit key per document, documents are grouped by key,
each bucket member is paired with the bucket's first member and with its predecessor,
and the bucket table is dropped before the next band. So memory is O(documents), not
O(documents x bands) as in datasketch's in-memory MinHashLSH (datasketch issue #207); the
runner's `lsh` step further splits each band's keys into hash ranges, one task each. A
candidate pair joins a cluster only if its estimated Jaccard is >= threshold; clusters are
the connected components of the verified pairs (`UnionFind.union_pairs`, vectorised).

Which document survives: the one that comes first in (source file, line) order, i.e. the
smallest global index, matching exact dedup's "keep first". Members of a cluster are
linked by chains of similar pairs, so a member may be less similar to the kept document
than the threshold; clusters.jsonl records each member's similarity to the kept one.
"""
from __future__ import annotations

import functools
import os
import re
import unicodedata
from pathlib import Path
import numpy as np
import xxhash

from dataprep.stages.normalize import HAN, HAN_RE

TOKEN_RE = re.compile(f"[{HAN}]|[^\\s{HAN}]+")
HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FFFF))   # as HAN
_FOLD_PRIME = np.uint64(0x100000001B3)       # FNV-1a 64-bit prime: folds band rows into one key


@functools.cache
def _dedup_table() -> dict[int, str]:
    """str.translate table for lowercased text: each character's NFKC form (full-width letters and
    digits -> ASCII, ligatures split) with punctuation and symbols -> space, decimal digits -> "0",
    whitespace -> space. NFKC per character here costs nothing at run time; unicodedata.normalize
    over each text took as long as the rest of the normalisation."""
    def fold(ch: str) -> str:
        cat = unicodedata.category(ch)
        return " " if cat[0] in "PS" or ch.isspace() else "0" if cat == "Nd" else ch

    table = {}
    for cp in range(0x10000):       # the BMP: punctuation beyond it is too rare to matter
        folded = "".join(fold(ch) for ch in unicodedata.normalize("NFKC", chr(cp)).lower())
        if folded != chr(cp):
            table[cp] = folded
    return table


def dedup_normalize(text: str) -> str:
    return text.lower().translate(_dedup_table())


def is_han(codes: np.ndarray) -> np.ndarray:
    han = np.zeros(len(codes), dtype=bool)
    for lo, hi in HAN_RANGES:
        han |= (codes >= lo) & (codes <= hi)
    return han


def _stream(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Code points of the dedup-normalised text as one stream (space runs -> one space, none at
    the ends or beside a Han character) and which of them are Han, built in numpy."""
    codes = np.frombuffer(dedup_normalize(text).encode("utf-32-le"), dtype=np.uint32)
    at = np.flatnonzero(codes != 32)
    chars = codes[at]
    han = is_han(chars)
    gap = (np.diff(at) > 1) & ~han[:-1] & ~han[1:]          # a space between two non-Han characters
    pos = np.arange(len(chars))
    pos[1:] += np.cumsum(gap)
    stream = np.full(len(chars) + int(gap.sum()), 32, dtype=np.uint32)
    stream_han = np.zeros(len(stream), dtype=bool)
    stream[pos], stream_han[pos] = chars, han
    return stream, stream_han


def char_stream(text: str) -> str:
    """The character stream that `latin_char_ngram` shingles are cut from, as text."""
    return _stream(text)[0].tobytes().decode("utf-32-le")


def _char_ngram_sizes(han: np.ndarray, han_ngram: int, latin_char_ngram: int) -> np.ndarray:
    """The size of the shingle starting at each stream position (at most the stream's length)."""
    return np.where(han, min(han_ngram, len(han)), min(latin_char_ngram, len(han)))


def _tokens(text: str, han_ngram: int, word_ngram: int) -> tuple[list[str], int]:
    """Tokens of the dedup-normalised text and the n-gram size for it (at most the token count)."""
    norm = dedup_normalize(text)
    tokens = TOKEN_RE.findall(norm)
    n = han_ngram if 2 * len(HAN_RE.findall(norm)) >= len(tokens) else word_ngram
    return tokens, min(n, len(tokens))


def shingles(text: str, han_ngram: int, word_ngram: int, latin_char_ngram: int = 6) -> list[bytes]:
    """The n-gram shingles of a text, readable (empty if it has no tokens after normalisation)."""
    if latin_char_ngram:
        codes, han = _stream(text)
        stream = codes.tobytes().decode("utf-32-le")
        sizes = _char_ngram_sizes(han, han_ngram, latin_char_ngram).tolist()
        return [stream[i:i + n].encode("utf-8") for i, n in enumerate(sizes) if i + n <= len(stream)]
    tokens, n = _tokens(text, han_ngram, word_ngram)
    return [" ".join(tokens[i:i + n]).encode("utf-8") for i in range(len(tokens) - n + 1)] if tokens else []


def _fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: a bijection that spreads every input bit over the output."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(33))) * np.uint64(0xFF51AFD7ED558CCD)
        x = (x ^ (x >> np.uint64(33))) * np.uint64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> np.uint64(33))


def _fold(unit_hashes: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Hashes of the n-grams starting at `starts`: their units' hashes folded in order (FNV-style
    xor-multiply, vectorised over all starts), the well-mixed top 32 bits kept."""
    folded = np.zeros(len(starts), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            folded = (folded ^ unit_hashes[starts + j]) * _FOLD_PRIME
    return (folded >> np.uint64(32)).astype(np.uint32)


def shingle_hashes(text: str, han_ngram: int, word_ngram: int, latin_char_ngram: int = 6) -> np.ndarray:
    """uint32 hashes of the same n-grams as `shingles`, without building the n-gram strings.

    Each unit is hashed once: a character by its code point through a 64-bit mixer, all in numpy;
    a word token with xxh3-64. Joining n-gram strings was 60% of the signature time.
    """
    if latin_char_ngram:
        codes, han = _stream(text)
        sizes = _char_ngram_sizes(han, han_ngram, latin_char_ngram)
        unit_hashes, starts = _fmix64(codes.astype(np.uint64)), np.arange(len(codes))
        return np.concatenate([np.zeros(0, dtype=np.uint32)] + [
            _fold(unit_hashes, starts[(sizes == n) & (starts <= len(codes) - n)], n)
            for n in {min(han_ngram, len(codes)), min(latin_char_ngram, len(codes))}])
    tokens, n = _tokens(text, han_ngram, word_ngram)
    if not tokens:
        return np.zeros(0, dtype=np.uint32)
    unit_hashes = np.fromiter((xxhash.xxh3_64_intdigest(t.encode("utf-8")) for t in tokens),
                              dtype=np.uint64, count=len(tokens))
    return _fold(unit_hashes, np.arange(len(tokens) - n + 1), n)


@functools.cache
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (a, b) for this seed."""
    from datasketch import MinHash   # datasketch imports scipy (~2 s): only when needed

    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, which datasketch's affine32 scheme applies before permuting."""
    x = (x ^ (x >> np.uint32(16))) * np.uint32(0x85EBCA6B)
    x = (x ^ (x >> np.uint32(13))) * np.uint32(0xC2B2AE35)
    return x ^ (x >> np.uint32(16))


def minhash_row(hashes: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int) -> np.ndarray:
    """MinHash of one non-empty array of uint32 hashes, equal to datasketch's `MinHash.update_batch`
    (affine32: min over the values of a * fmix32(h) + b mod 2^32) without its Python call per value,
    which cost as much as the permutations. Duplicates are kept: dropping them (np.unique) cost
    more than permuting them. `chunk` values at a time: a (num_perm, chunk) temporary that stays
    in cache (512 x 128 x 4 B = 256 KB ran 1.6x faster than 2048)."""
    values = _fmix32(hashes)
    row = np.full(len(a), np.iinfo(np.uint32).max, dtype=np.uint32)
    for lo in range(0, len(values), chunk):
        permuted = np.multiply.outer(a, values[lo:lo + chunk])
        permuted += b[:, None]
        np.minimum(row, permuted.min(axis=1), out=row)
    return row


def signatures(texts: list[str], num_perm: int, seed: int, han_ngram: int, word_ngram: int,
               batch_size: int = 512, latin_char_ngram: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(n, num_perm) uint32 MinHash signatures and a mask of texts that had any shingle.

    Texts without shingles (only punctuation, say) get a zero row and are left out of LSH:
    their empty signatures would otherwise all look identical. `batch_size` shingles are
    permuted at once (see `minhash_row`).
    """
    a, b = _permutations(num_perm, seed)
    sig = np.zeros((len(texts), num_perm), dtype=np.uint32)
    valid = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        hashes = shingle_hashes(text, han_ngram, word_ngram, latin_char_ngram)
        if len(hashes):
            sig[i], valid[i] = minhash_row(hashes, a, b, batch_size), True
    return sig, valid


def band_params(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising weighted false positive + negative probability (datasketch's optimiser)."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, fp_weight, fn_weight)


class SignatureStore:
    """Per-shard 2-D .npy tables (signatures, exact hashes) as one indexable table, memory-mapped:
    global index = shard offset + row."""

    def __init__(self, paths: list[Path]):
        self.arrays = [np.load(p, mmap_mode="r") for p in paths]
        sizes = [len(a) for a in self.arrays]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.size = int(self.offsets[-1])

    def columns(self, lo: int, hi: int) -> np.ndarray:
        """Columns [lo, hi) of every row, as one (size, hi - lo) array."""
        parts = [np.asarray(a[:, lo:hi]) for a in self.arrays]
        return np.concatenate(parts) if parts else np.zeros((0, hi - lo), dtype=np.uint32)

    def rows(self, index: np.ndarray, span: int = 1 << 20) -> np.ndarray:
        """Rows at global indices, read with pread, never through the memory map: mapped pages count
        in a task's RSS and stay there (and a random row faults in ~64 KB around it), so the merge,
        which reads the rows of every near copy, grew with the whole signature table. The rows asked
        for within each `span` bytes of a shard come from one read of that stretch when they fill
        1/8 of it, else from one read each: bounded memory, sequential I/O for dense requests."""
        first = self.arrays[0] if self.arrays else np.zeros((0, 0), dtype=np.uint32)
        out = np.empty((len(index), first.shape[1]), dtype=first.dtype)
        if len(index) == 0:
            return out
        order = np.argsort(index, kind="stable")
        index = np.asarray(index)[order]
        shard = np.searchsorted(self.offsets, index, side="right") - 1
        bounds = np.flatnonzero(np.r_[True, shard[1:] != shard[:-1], True])
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            table = self.arrays[shard[lo]]
            local = index[lo:hi] - self.offsets[shard[lo]]
            width = table.strides[0]
            block = local // max(1, span // width)
            cuts = np.flatnonzero(np.r_[True, block[1:] != block[:-1], True])
            with open(table.filename, "rb") as handle:
                fd = handle.fileno()
                for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
                    want = local[a:b]
                    start, stop = int(want[0]), int(want[-1]) + 1
                    if (b - a) * 8 >= stop - start:
                        data = np.frombuffer(os.pread(fd, (stop - start) * width, table.offset + start * width),
                                             dtype=table.dtype).reshape(stop - start, -1)[want - start]
                    else:
                        data = np.frombuffer(b"".join(os.pread(fd, width, table.offset + int(i) * width)
                                                      for i in want.tolist()), dtype=table.dtype).reshape(b - a, -1)
                    out[order[lo + a:lo + b]] = data
        return out


def similarity(store: SignatureStore, a: np.ndarray, b: np.ndarray, chunk: int = 1 << 12) -> np.ndarray:
    """Estimated Jaccard similarity of pairs (a[i], b[i]): the share of equal MinHash values.
    `chunk` pairs at a time (4 MB of 128-value rows), so the rows held stay small whatever the corpus."""
    out = np.zeros(len(a))
    for lo in range(0, len(a), chunk):
        out[lo:lo + chunk] = (store.rows(a[lo:lo + chunk]) == store.rows(b[lo:lo + chunk])).mean(axis=1)
    return out


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

    def union_pairs(self, a: np.ndarray, b: np.ndarray) -> None:
        """Union every pair (a[i], b[i]) in numpy: hook each larger root under the smallest root it is
        paired with (np.minimum.at), compress, repeat with the pairs whose roots still differ. Every
        round turns at least one root into a child (parent only ever decreases, so no cycles): few
        rounds in practice (chains of near-copies collapse in one)."""
        while len(a):
            roots = self.roots()
            ra, rb = roots[a], roots[b]
            differ = ra != rb
            if not differ.any():
                return
            a, b, ra, rb = a[differ], b[differ], ra[differ], rb[differ]
            np.minimum.at(self.parent, np.maximum(ra, rb), np.minimum(ra, rb))

    def roots(self) -> np.ndarray:
        """Every element's root, by pointer jumping (parent = parent[parent] until nothing moves):
        O(n log depth) in numpy instead of a Python find() per document. Compresses all paths."""
        parent = self.parent
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        self.parent = parent
        return parent.copy()


def band_keys(band: np.ndarray) -> np.ndarray:
    """One 64-bit key per row of a band's (n, rows) signature columns (FNV-style fold)."""
    keys = np.zeros(len(band), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in band.T:
            keys = (keys ^ col.astype(np.uint64)) * _FOLD_PRIME
    return keys


def key_part(keys: np.ndarray, parts: int) -> np.ndarray:
    """Which of `parts` hash ranges each band key falls in (mixed first: FNV's low bits are weak)."""
    return (_fmix64(keys) % np.uint64(parts)).astype(np.int64)


def bucket_pairs(keys: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs among documents sharing a key: each bucket member with the bucket's first
    member (star) and with its predecessor (chain), members in ascending document order. `docs`
    must be ascending where keys tie (sorted by (key, doc) or docs ascending overall)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys, docs = keys[order], docs[order]
    same = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1]) + 1   # positions continuing a bucket
    if len(same) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    head = starts[np.searchsorted(starts, same, side="right") - 1]
    chain = same[same - 1 != head]
    return (np.concatenate([docs[head], docs[chain - 1]]).astype(np.int64),
            np.concatenate([docs[same], docs[chain]]).astype(np.int64))


def verified(store: SignatureStore, a: np.ndarray, b: np.ndarray, threshold: float) -> np.ndarray:
    """Mask of candidate pairs whose estimated Jaccard is >= threshold (rows read in chunks)."""
    chunk = 1 << 16
    return np.concatenate([np.zeros(0, dtype=bool)] + [
        similarity(store, a[lo:lo + chunk], b[lo:lo + chunk]) >= threshold for lo in range(0, len(a), chunk)])


def lsh_clusters(store: SignatureStore, alive: np.ndarray, threshold: float, bands: int, rows: int,
                 progress=None) -> UnionFind:
    """Union-find over all documents; `alive` (global indices, ascending) take part in LSH.
    One process over every band; the runner spreads the same pairs over `lsh` tasks instead."""
    uf = UnionFind(store.size)
    for b in progress(range(bands)) if progress else range(bands):
        a, c = bucket_pairs(band_keys(store.columns(b * rows, (b + 1) * rows)[alive]), alive)
        keep = verified(store, a, c, threshold)
        uf.union_pairs(a[keep], c[keep])
    return uf
