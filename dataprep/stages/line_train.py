"""`dataprep lines train`: fit the line model (`dataprep.stages.line_model`) on weak labels.

The recipe of the shipped model and how the weak labels are made are in line_model's docstring.
Kept apart from the model so that the cleaner (`dataprep.stages.lines`) imports the model and
this module imports the cleaner's rules, without a cycle.
"""
from __future__ import annotations

import argparse
import random
import re
import sys
from collections import Counter

import numpy as np

from common.config import ConfigError
from dataprep.core import Document, StageStats
from dataprep.reader import InputError, iter_documents
from dataprep.stages.line_model import FEATURES, LineFeatureConfig, LineModel, line_features
from dataprep.stages.lines import LinesConfig, classify_lines, line_key, line_keys
from dataprep.stages.normalize import ZH_MIN_HAN, detect_lang, normalize_text
from dataprep.stages.quality import QualityConfig, QualityFilter
from dataprep.stages.safety import DEFAULT_BLOCKLIST, load_blocklist


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 30) -> np.ndarray:
    """Class-balanced L2 logistic regression by Newton's method; weights then bias."""
    xb = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    pos = y.mean()
    sample_w = np.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))
    w = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-xb @ w))
        grad = xb.T @ (sample_w * (p - y)) + reg * w
        hess = (xb * (sample_w * p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def weak_labels(docs: list[tuple[str, str]], features: LineFeatureConfig, transplants: int = 3,
                transplant_max_chars: int = 80, seed: int = 0
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(features, labels) per language from (text, lang) documents; see the module docstring."""
    lines_cfg = LinesConfig()
    counts: Counter[str] = Counter()
    for i, (text, _) in enumerate(docs):
        counts.update(set(line_keys(Document(str(i), text), lines_cfg)))
    repeated = {k for k, n in counts.items() if n >= lines_cfg.min_docs}
    blocked = re.compile("|".join(re.escape(t) for t in load_blocklist(DEFAULT_BLOCKLIST)), re.IGNORECASE)
    quality = QualityFilter(QualityConfig())
    rng = random.Random(seed)
    pool: dict[str, list[str]] = {"zh": [], "en": []}   # content lines of earlier documents, per language
    rows: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[np.ndarray]] = {}
    for i, (text, lang) in enumerate(docs):
        if lang not in ("zh", "en"):
            continue
        lines = text.split("\n")
        flagged = [kind is not None or bool(blocked.search(line))
                   or (len(line.strip()) >= lines_cfg.min_key_chars and line_key(line) in repeated)
                   for line, kind in zip(lines, classify_lines(lines, lines_cfg))]
        content = [line for line, f in zip(lines, flagged) if not f and line.strip()]
        doc = Document(str(i), "\n".join(content), meta={"lang": lang})
        keep_content = bool(content) and quality.apply(doc, StageStats("weak")) is not None
        use = [bool(line.strip()) and (f or keep_content) for line, f in zip(lines, flagged)]
        if keep_content and len(content) >= 4 and pool[lang]:
            for _ in range(min(transplants, len(content) // 4)):       # off-topic lines woven in
                at = rng.randrange(1, len(lines))
                lines.insert(at, rng.choice(pool[lang]))   # pool holds short lines only: see transplant_max_chars
                flagged.insert(at, True)
                use.insert(at, True)
        if keep_content:
            short = [line for line in content if len(line.strip()) <= transplant_max_chars]
            pool[lang] = (pool[lang] + rng.sample(short, min(3, len(short))))[-500:]
        if not any(use):
            continue
        x = line_features(lines, lang, features)
        rows.setdefault(lang, []).append(x[use])
        labels.setdefault(lang, []).append(np.asarray(flagged, dtype=np.float64)[use])
    return {lang: (np.vstack(rows[lang]), np.concatenate(labels[lang])) for lang in rows}


def read_texts(inputs: list[str], text_field: str = "text", zh_min_han: float = ZH_MIN_HAN,
               log=print) -> list[tuple[str, str]]:
    """Normalised (text, lang) of every document under the inputs; unreadable records are skipped
    and counted (a raw corpus may hold some)."""
    skipped: list = []
    docs = []
    try:
        for doc in iter_documents(inputs, text_field, skipped=skipped):
            if doc.text.strip():
                text = normalize_text(doc.text)[0]
                docs.append((text, detect_lang(text, zh_min_han)))
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    if skipped:
        log(f"skipped {len(skipped)} unreadable records, e.g. {skipped[0].file}:{skipped[0].line}: {skipped[0].error}")
    return docs


def train(inputs: list[str], l2: float = 1.0, log=print) -> LineModel:
    features = LineFeatureConfig()
    data = weak_labels(read_texts(inputs, log=log), features)
    if set(data) != {"zh", "en"}:
        raise ConfigError(f"weak labels need both zh and en lines; got {sorted(data)}")
    weights = {}
    for lang, (x, y) in sorted(data.items()):
        if y.min() == y.max():
            raise ConfigError(f"weak labels for {lang} are all one class: the corpus needs pages with chrome")
        w = fit_logistic(x, y, l2)
        p = 1.0 / (1.0 + np.exp(-(x @ w[:-1] + w[-1])))
        log(f"{lang}: {len(y)} lines, {int(y.sum())} boilerplate; weak-label agreement "
            f"content {np.mean(p[y == 0] < 0.5):.3f}, boilerplate {np.mean(p[y == 1] >= 0.5):.3f}")
        weights[lang] = w.tolist()
    recipe = f"dataprep lines train --input {' '.join(inputs)} --l2 {l2}"
    return LineModel(features, weights, recipe)


def cmd_train(args: argparse.Namespace) -> int:
    model = train(args.input, args.l2, log=lambda line: print(line, file=sys.stderr))
    model.save(args.output)
    for lang, w in model.weights.items():
        print(f"{lang}: " + ", ".join(f"{name} {v:+.2f}" for name, v in zip(FEATURES + ("bias",), w)))
    print(f"model: {args.output}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    lines = subparsers.add_parser("lines", help="the line classifier of the line-cleaning stage")
    sub = lines.add_subparsers(dest="lines_command", metavar="ACTION", required=True)
    tr = sub.add_parser(
        "train", help="fit the line model on weak labels from a raw corpus",
        description="Label lines of a raw jsonl corpus weakly (rule hits, corpus-repeated and blocklisted "
                    "lines = boilerplate; the rest of quality-passing documents = content) and fit one "
                    "logistic regression per language. Point lines.model at the output to use it.")
    tr.add_argument("--input", action="append", required=True, help="jsonl(.gz) file or directory (repeatable)")
    tr.add_argument("--output", required=True, help="model JSON to write")
    tr.add_argument("--l2", type=float, default=1.0, help="L2 penalty on the weights (not the bias)")
    tr.set_defaults(func=cmd_train)
