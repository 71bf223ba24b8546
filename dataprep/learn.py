"""Pieces the learned text models share: hashed n-gram codes, linear classifiers, .npz model files.

The document quality score (`dataprep.stages.doc_score`) and the domain classifier
(`dataprep.domain_model`) both see text as hashed n-grams of characters or words, fit a
class-balanced, L2-regularised linear model in numpy, hold documents out by a hash of their id,
and keep their model in a compressed .npz of plain arrays (loaded with allow_pickle=False: a
model file is data, never code).
"""
from __future__ import annotations

import dataclasses
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from common.atomic import atomic_write
from common.config import ConfigError

_PRIME = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
BOS, EOS = 1, 2
_WS_RE = re.compile(r"\s+")
_DIGIT_RE = re.compile(r"\d")
_WORD_RE = re.compile(r"\w+|[^\w\s]")


# ---- hashed n-grams -----------------------------------------------------------------------------

def lm_codes(text: str, unit: str = "char") -> np.ndarray:
    """The units a model sees, as codes: text lower-cased, every digit -> '0', whitespace runs ->
    one space; then characters (code points) or words/punctuation marks (hashed), and an end mark
    (so every counted context is followed by something)."""
    norm = _DIGIT_RE.sub("0", _WS_RE.sub(" ", text.lower()).strip())
    if unit == "word":
        codes = np.array([zlib.crc32(w.encode("utf-8")) + 3 for w in _WORD_RE.findall(norm)], dtype=np.uint64)
    else:
        codes = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return np.concatenate([codes, np.array([EOS], dtype=np.uint64)])


def ngram_buckets(codes: np.ndarray, order: int, bits: int) -> np.ndarray:
    """[order, len(codes) + order - 1] table buckets: row k-1 holds the (k)-gram ending at each
    position of the BOS-padded sequence (the same tuple always hashes to the same bucket)."""
    padded = np.concatenate([np.full(order - 1, BOS, dtype=np.uint64), codes])
    n = len(padded)
    out = np.empty((order, n), dtype=np.int64)
    h = np.zeros(n, dtype=np.uint64)
    for k in range(1, order + 1):
        shifted = np.full(n, BOS, dtype=np.uint64)
        shifted[k - 1:] = padded[:n - k + 1]         # the char k-1 places back (BOS before the start)
        h = (h ^ shifted) * _PRIME + np.uint64(k)
        mixed = (h ^ (h >> np.uint64(31))) * _MIX
        out[k - 1] = (mixed >> np.uint64(64 - bits)).astype(np.int64)
    return out


def is_holdout(doc_id: str, frac: float) -> bool:
    """Deterministic by id: the same documents are held out by training and by the benchmark."""
    return zlib.crc32(doc_id.encode("utf-8")) % 1000 < frac * 1000


def balanced_weights(y: np.ndarray, classes: int) -> np.ndarray:
    """Per-example weights giving every class the same total weight (1 / classes), summing to 1."""
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    return 1.0 / (classes * np.maximum(counts, 1.0))[y]


# ---- linear classifiers -------------------------------------------------------------------------

@dataclasses.dataclass
class Logistic:
    """Standardised multinomial logistic regression over a few dense features, fitted by Newton's
    method: P(class) = softmax(W . z), z = ((x - mean) / std, 1). classes[0] is the positive
    class (good text); the others may be one per kind of negative example, so each kind gets its
    own direction (with two classes this is the binary logistic regression)."""
    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray          # [features + 1 (the bias row last), classes]
    classes: tuple[str, ...]

    @classmethod
    def fit(cls, x: np.ndarray, labels: list[str], positive: str, l2: float = 1e-2,
            steps: int = 50) -> "Logistic":
        """Newton's method on the L2-regularised log loss; the positive class and the others
        weigh half each (the other half split over classes by their counts, as in the data)."""
        classes = (positive, *sorted(set(labels) - {positive}))
        y = np.array([classes.index(label) for label in labels])
        mean, std = x.mean(0), x.std(0) + 1e-6
        z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
        weight = balanced_weights((y != 0).astype(np.int64), 2)
        n_feat, n_cls = z.shape[1], len(classes)
        onehot = np.eye(n_cls)[y]
        w = np.zeros((n_feat, n_cls))
        for _ in range(steps):
            p = _softmax(z @ w)
            grad = z.T @ (weight[:, None] * (p - onehot)) + l2 * w
            hess = np.empty((n_feat, n_cls, n_feat, n_cls))
            for k in range(n_cls):
                for j in range(k, n_cls):
                    block = (z * (weight * p[:, k] * ((k == j) - p[:, j]))[:, None]).T @ z
                    hess[:, k, :, j], hess[:, j, :, k] = block, block.T
            hess = hess.reshape(n_feat * n_cls, -1) + l2 * np.eye(n_feat * n_cls)
            step = np.linalg.solve(hess, grad.ravel()).reshape(n_feat, n_cls)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        return cls(mean, std, w, classes)

    def margin(self, x: np.ndarray) -> np.ndarray:
        """log P(positive) - log P(any other class)."""
        z = (np.atleast_2d(x) - self.mean) / self.std
        logits = z @ self.weights[:-1] + self.weights[-1]
        rest = logits[:, 1:]
        top = rest.max(axis=1)
        return logits[:, 0] - (top + np.log(np.exp(rest - top[:, None]).sum(axis=1)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(positive) per row."""
        return 1.0 / (1.0 + np.exp(-self.margin(x)))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.mean": self.mean, f"{prefix}.std": self.std, f"{prefix}.weights": self.weights,
                f"{prefix}.classes": np.array(self.classes)}

    @classmethod
    def from_arrays(cls, data, prefix: str) -> "Logistic":
        """A file of the earlier binary form (one weight vector, no classes) loads as two classes
        whose second logit is 0: the same scores."""
        weights = data[f"{prefix}.weights"]
        if weights.ndim == 1:
            return cls(data[f"{prefix}.mean"], data[f"{prefix}.std"],
                       np.stack([weights, np.zeros_like(weights)], axis=1), ("positive", "negative"))
        return cls(data[f"{prefix}.mean"], data[f"{prefix}.std"], weights,
                   tuple(data[f"{prefix}.classes"].tolist()))


@dataclasses.dataclass
class SparseRows:
    """Rows of hashed features (CSR): row i holds values[indptr[i]:indptr[i+1]] at columns indices[...]."""
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @classmethod
    def stack(cls, rows: list[tuple[np.ndarray, np.ndarray]]) -> "SparseRows":
        lengths = np.array([len(i) for i, _ in rows], dtype=np.int64)
        return cls(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                   np.concatenate([np.zeros(0, np.int64), *(i for i, _ in rows)]),
                   np.concatenate([np.zeros(0, np.float32), *(v for _, v in rows)]).astype(np.float32))

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def row_ids(self) -> np.ndarray:
        return np.repeat(np.arange(len(self)), np.diff(self.indptr))


@dataclasses.dataclass
class Softmax:
    """Multinomial logistic regression over hashed features: P(class) = softmax(x . W + b).

    Fitted by Nesterov-accelerated gradient descent with steps from the loss's curvature bound, so
    nothing needs tuning: Newton's method, as `Logistic` uses, would need the (features x
    classes)^2 Hessian. A bucket no training row holds keeps weight 0.
    """
    weights: np.ndarray          # float32 [buckets, classes]
    bias: np.ndarray             # float32 [classes]

    @classmethod
    def fit(cls, x: SparseRows, y: np.ndarray, classes: int, buckets: int, l2: float = 1e-4,
            steps: int = 100) -> "Softmax":
        """Class-balanced, L2-regularised cross-entropy (the bias is not regularised), over the
        buckets the rows use. Steps: the Hessian is at most half of X' diag(weight) X per class
        for the weights (Boehning's bound; its top eigenvalue by power iteration) and half the
        weights' sum (1) for the bias, and at most twice the two blocks apart."""
        cols, local = np.unique(x.indices, return_inverse=True)
        rows, weight = x.row_ids(), balanced_weights(y, classes)
        onehot = np.eye(classes)[y]

        def scores(w: np.ndarray) -> np.ndarray:             # X w, per class
            return np.stack([np.bincount(rows, weights=x.values * w[local, k], minlength=len(x))
                             for k in range(w.shape[1])], axis=1)

        def back(r: np.ndarray) -> np.ndarray:               # X' r, per class
            return np.stack([np.bincount(local, weights=x.values * r[rows, k], minlength=len(cols))
                             for k in range(r.shape[1])], axis=1)

        v = np.ones((len(cols), 1))
        top = 0.0
        for _ in range(20):
            v = back(weight[:, None] * scores(v))
            top = float(np.linalg.norm(v))
            v /= max(top, 1e-12)
        lr_w, lr_b = 1.0 / (top + l2), 1.0
        w, b = np.zeros((len(cols), classes)), np.zeros(classes)
        w_prev, b_prev = w, b
        for t in range(1, steps + 1):
            momentum = (t - 1) / (t + 2)
            vw, vb = w + momentum * (w - w_prev), b + momentum * (b - b_prev)
            diff = (_softmax(scores(vw) + vb) - onehot) * weight[:, None]
            w_prev, b_prev = w, b
            w, b = vw - lr_w * (back(diff) + l2 * vw), vb - lr_b * diff.sum(0)
        full = np.zeros((buckets, classes), np.float32)
        full[cols] = w
        return cls(full, b.astype(np.float32))

    def predict(self, x: SparseRows) -> np.ndarray:
        """[rows, classes] probabilities."""
        rows = x.row_ids()
        contrib = x.values[:, None] * self.weights[x.indices]
        z = np.stack([np.bincount(rows, weights=contrib[:, k], minlength=len(x)) for k in range(contrib.shape[1])],
                     axis=1)
        return _softmax(z + self.bias)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.weights": self.weights, f"{prefix}.bias": self.bias}

    @classmethod
    def from_arrays(cls, data, prefix: str) -> "Softmax":
        return cls(data[f"{prefix}.weights"], data[f"{prefix}.bias"])


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---- model files ----------------------------------------------------------------------------------

def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """A model's arrays as one compressed .npz, written to a temp file then renamed."""
    with atomic_write(path) as handle:
        np.savez_compressed(handle, **arrays)


def load_npz(path: str | Path, retrain: str) -> dict[str, np.ndarray]:
    """Every array of a model file, without pickles; an unreadable file is a ConfigError that names
    it and the command (`retrain`) that makes a good one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path}: not a model file ({exc}): make one with `{retrain}`") from None
