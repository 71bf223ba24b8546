"""Train a sentencepiece model from document files, streaming lines through `sentence_iterator`.

The trainer samples `input_sentence_size` lines (reservoir, shuffled) so memory stays bounded;
documents are split into lines below `max_sentence_length` first so none is silently skipped.
"""
from __future__ import annotations

import dataclasses
import io
import random
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2

from common.atomic import atomic_write, sha256_file, write_json, write_text
from common.config import ConfigError, dump_yaml
from common.progress import progress
from dataprep.tokenizer.align import align_vocabulary, segment_sample
from dataprep.tokenizer.config import TokenizerConfig
from dataprep.tokenizer.files import MODEL_FILE
from dataprep.tokenizer.lexicon import segment_han, top_idioms
from dataprep.reader import iter_documents
from dataprep.tokenizer.textio import split_long


@dataclass
class LineStats:
    documents: int = 0
    lines: int = 0
    long_lines_split: int = 0       # documents with a line over max_sentence_length (cut, not dropped)
    chars: int = 0
    jieba_segmented: int = 0


class Reservoir:
    """A uniform sample of at most `size` items of a stream; seeded, so the same input gives the same sample."""

    def __init__(self, size: int, seed: int = 0):
        self.size, self.seen, self.items = size, 0, []
        self._rng = random.Random(seed)

    def offer(self, item: str) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        elif (slot := self._rng.randrange(self.seen)) < self.size:
            self.items[slot] = item


def training_lines(documents: Iterable, config: TokenizerConfig, stats: LineStats,
                   sample: Reservoir | None = None) -> Iterator[str]:
    """Lines for the trainer; a `jieba_fraction` of them (chosen by a hash of the line, so
    reproducible) has its Han runs pre-segmented with the pretokenization delimiter. `sample`
    receives the lines as written, for word alignment."""
    threshold = int(config.jieba_fraction * 2**32)
    for doc in documents:
        stats.documents += 1
        for line in split_long(doc.text, config.max_sentence_length):
            stats.lines += 1
            stats.chars += len(line)
            if sample is not None:
                sample.offer(line)
            if threshold and zlib.crc32(line.encode("utf-8")) < threshold:
                segmented = segment_han(line, config.pretokenization_delimiter)
                if len(segmented.encode("utf-8")) <= config.max_sentence_length:
                    stats.jieba_segmented += segmented != line
                    line = segmented
            yield line
        if len(doc.text) * 4 > config.max_sentence_length and any(
                len(raw.encode("utf-8")) > config.max_sentence_length for raw in doc.text.split("\n")):
            stats.long_lines_split += 1


def user_symbols(config: TokenizerConfig) -> list[str]:
    """Configured symbols, then the top-K idioms not already listed (order fixes their ids)."""
    symbols = list(dict.fromkeys(config.user_defined_symbols))
    seen = set(symbols)
    symbols += [w for w in top_idioms(config.idiom_symbols) if w not in seen]
    return symbols


def train_model(lines: Callable[[], Iterator[str]], trainer_args: dict[str, Any],
                symbols: list[str] | None = None, verbose: bool = False) -> bytes:
    """Run the sentencepiece trainer on a stream of lines; returns the serialized model."""
    buffer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=lines(), model_writer=buffer, minloglevel=0 if verbose else 2,
            **({"user_defined_symbols": symbols} if symbols else {}), **trainer_args)
    except RuntimeError as exc:       # the trainer reports bad settings as INTERNAL errors
        raise ConfigError(f"sentencepiece refused the settings: {str(exc).split('] ')[-1]}") from None
    return buffer.getvalue()


def write_model(model: bytes, out_dir: Path) -> Path:
    """Write tokenizer.model and a human-readable tokenizer.vocab (piece<TAB>score), atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_dir / MODEL_FILE, "wb") as handle:
        handle.write(model)
    proto = model_pb2.ModelProto()
    proto.ParseFromString(model)
    write_text(out_dir / "tokenizer.vocab", "".join(f"{p.piece}\t{p.score:g}\n" for p in proto.pieces))
    return out_dir / MODEL_FILE


BASELINES = ("library", "library-digits")


def baseline_trainer_args(config: TokenizerConfig, baseline: str) -> dict[str, Any]:
    """Sentencepiece's own defaults at the same model type, vocab size and sampling (the comparison
    point for `tokenizer eval`); "library-digits" adds split_digits to compare like with like."""
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r} (choose from {', '.join(BASELINES)})")
    args = {name: getattr(config, name) for name in (
        "model_type", "vocab_size", "input_sentence_size", "shuffle_input_sentence", "num_threads")}
    return {**args, "split_digits": True} if baseline == "library-digits" else args


def train_tokenizer(config: TokenizerConfig, inputs: list[str], out_dir: str | Path,
                    baseline: str | None = None, verbose: bool = False) -> dict[str, Any]:
    """Train from parquet/jsonl/txt inputs into `out_dir`; returns (and writes) train_report.json.

    With `baseline`, the same lines train a model with library-default settings instead.
    """
    out_dir = Path(out_dir)
    stats = LineStats()
    started = time.perf_counter()
    if baseline:
        config = dataclasses.replace(config, jieba_fraction=0.0, idiom_symbols=0, user_defined_symbols=[],
                                     word_align_max_breaks=0.0)
    sample = Reservoir(config.word_align_sample_lines) if config.word_align_max_breaks else None
    model = train_model(lambda: training_lines(progress(iter_documents(inputs, config.text_field), "tokenizer: read",
                                                        unit="document"), config, stats, sample),
                        baseline_trainer_args(config, baseline) if baseline else config.trainer_args(),
                        user_symbols(config), verbose)
    alignment = None
    if sample is not None:
        model, alignment = align_vocabulary(model, segment_sample(sample.items), config.word_align_max_breaks)
    path = write_model(model, out_dir)
    write_text(out_dir / "tokenizer_config.yaml", dump_yaml(config))
    report = {
        "model": str(path), "sha256": sha256_file(path), "seconds": round(time.perf_counter() - started, 2),
        "documents": stats.documents, "lines": stats.lines, "chars": stats.chars,
        "documents_with_long_lines_split": stats.long_lines_split, "jieba_segmented_lines": stats.jieba_segmented,
        "user_defined_symbols": len(user_symbols(config)), "baseline": baseline, "inputs": [str(i) for i in inputs],
        "word_alignment": dataclasses.asdict(alignment) if alignment else None,
    }
    write_json(out_dir / "train_report.json", report)
    return report
