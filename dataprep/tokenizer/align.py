"""Word-aligned vocabulary: after BPE training, trade pieces that straddle words for dictionary words.

BPE keeps whatever pairs are frequent, so news phrases (新华社记者, 政治谈判) and function characters
glued to a neighbour (中国的) become pieces that cut through or swallow words: a plain 64k BPE
leaves ~40% of two-character words split (docs/BENCHMARKS.md). Pre-segmenting all training text
with jieba removes such pieces but costs ~10% compression, because most of them are worth their
slot. This pass drops only the pieces that break words faster than they save tokens:

1. encode a jieba-segmented sample of the training text with the model;
2. per multi-character piece, count its uses and the words (>= 2 Han characters) those uses break,
   i.e. straddle or swallow. A piece at >= `max_breaks_per_use` breaks per use (a two-word phrase
   scores 2: dropping it costs one token per use and frees two words) is dropped unless it is a
   dictionary word itself, and so are pieces that can no longer be built by a merge;
3. each freed slot goes to the most frequent sample word that is not yet a piece;
4. dictionary words merge first at encode time: their pieces are ordered before all other merged
   pieces (most frequent first), so 的中国 becomes 的|中国 rather than 的中|国.

Repeated until no piece is dropped (at most `MAX_ROUNDS`): once a long phrase piece is gone, the
shorter phrase inside it is used in its place and is judged in the next round. The result is an
ordinary sentencepiece BPE model (encoding looks only at the pieces and their order), so the
Hugging Face export and every reader are unchanged.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2
from sentencepiece import sentencepiece_pb2

from dataprep.tokenizer.lexicon import han_word_frequencies, jieba_words

NORMAL = model_pb2.ModelProto.SentencePiece.NORMAL
MAX_ROUNDS = 6      # nested phrases surface one level per round; news text settles in 2-3


@dataclass
class SampleLine:
    text: str
    words: list[tuple[int, int]]          # UTF-8 byte spans of jieba words of >= 2 Han characters


@dataclass
class AlignReport:
    sample_lines: int = 0
    sample_words: int = 0
    words_single_before: float = 0.0      # share of sample words that are exactly one token
    words_single_after: float = 0.0
    pieces_dropped: int = 0
    words_added: int = 0
    dropped_examples: list[str] = field(default_factory=list)     # the worst 5 of each round


@dataclass
class _Usage:
    uses: Counter
    breaks: Counter
    words: int
    single: int


def segment_sample(lines: Iterable[str]) -> list[SampleLine]:
    return [SampleLine(text, jieba_words(text)) for text in lines]


def measure(model: bytes, sample: list[SampleLine]) -> _Usage:
    """Uses and word breaks per multi-character piece, and how many sample words are one token."""
    sp = spm.SentencePieceProcessor(model_proto=model)
    usage = _Usage(Counter(), Counter(), 0, 0)
    for start in range(0, len(sample), 1024):
        chunk = sample[start:start + 1024]
        for line, blob in zip(chunk, sp.encode([s.text for s in chunk], out_type="serialized_proto")):
            parsed = sentencepiece_pb2.SentencePieceText()
            parsed.ParseFromString(blob)
            pieces = [(p.begin, p.end, p.piece) for p in parsed.pieces]
            covering = {}                                 # byte offset -> the piece covering it
            for piece in pieces:
                if len(piece[2]) > 1:
                    usage.uses[piece[2]] += 1
                for offset in range(piece[0], piece[1]):
                    covering[offset] = piece
            for begin, end in line.words:
                usage.words += 1
                first, last = covering.get(begin), covering.get(end - 1)
                if first is not None and first[:2] == (begin, end):
                    usage.single += 1
                    continue
                for piece in {first, last} - {None}:
                    if piece[0] < begin or piece[1] > end:
                        usage.breaks[piece[2]] += 1
    return usage


def _buildable(pieces: Iterable[str]) -> set[str]:
    """The pieces BPE can still produce: characters, and pieces with a split into two buildable ones."""
    built: set[str] = set()
    for piece in sorted(pieces, key=len):
        if len(piece) == 1 or _has_split(piece, built):
            built.add(piece)
    return built


def _has_split(piece: str, pieces: set[str]) -> bool:
    return any(piece[:k] in pieces and piece[k:] in pieces for k in range(1, len(piece)))


def _rebuild(proto: model_pb2.ModelProto, normal: list[str], rank: dict[str, int]) -> bytes:
    """Normal pieces ordered: dictionary words (most frequent first), other merged pieces in
    their trained order (`rank`), then characters; score = -position, as the trainer writes it,
    so sentencepiece (highest score merges first) and the HF export (merge order = id) agree."""
    lexicon = han_word_frequencies()

    def key(piece: str) -> tuple:
        if len(piece) > 1 and piece in lexicon:
            return (0, -lexicon[piece], piece)
        return (1 if len(piece) > 1 else 2, rank.get(piece, len(rank)), piece)
    others = [p for p in proto.pieces if p.type != NORMAL]
    del proto.pieces[:]
    proto.pieces.extend(others)
    for position, piece in enumerate(sorted(normal, key=key)):
        proto.pieces.add(piece=piece, score=-float(position), type=NORMAL)
    return proto.SerializeToString()


def align_vocabulary(model: bytes, sample: list[SampleLine],
                     max_breaks_per_use: float = 1.2) -> tuple[bytes, AlignReport]:
    """The word-aligned model (same vocabulary size) and what changed."""
    lexicon = han_word_frequencies()
    proto = model_pb2.ModelProto()
    proto.ParseFromString(model)
    rank = {p.piece: i for i, p in enumerate(proto.pieces) if p.type == NORMAL}
    reserved = {p.piece for p in proto.pieces if p.type != NORMAL}     # user symbols, bytes, specials
    word_counts = Counter(line.text.encode("utf-8")[b:e].decode("utf-8") for line in sample for b, e in line.words)
    report = AlignReport(sample_lines=len(sample))
    model = _rebuild(proto, list(rank), rank)
    banned: set[str] = set()                  # dropped once: never re-added as a sample word
    for round_ in range(MAX_ROUNDS):
        usage = measure(model, sample)
        if round_ == 0:
            report.sample_words, report.words_single_before = usage.words, usage.single / max(usage.words, 1)
        normal = [p.piece for p in proto.pieces if p.type == NORMAL]
        ratio = {p: usage.breaks[p] / usage.uses[p] for p in normal if usage.uses[p] and p not in lexicon}
        drop = sorted((p for p, r in ratio.items() if r >= max_breaks_per_use), key=lambda p: (-ratio[p], p))
        if not drop:
            break
        banned.update(drop)
        kept = _buildable(set(normal) - set(drop))
        freed = len(normal) - len(kept)
        added = [w for w, _ in word_counts.most_common() if w not in kept and w not in reserved
                 and w not in banned and _has_split(w, kept)][:freed]
        # too few new words (small corpora): the least-breaking dropped pieces keep their slots
        restored = [p for p in reversed(drop) if _has_split(p, kept)][:freed - len(added)]
        if freed == len(restored):
            break
        report.pieces_dropped += freed - len(restored)
        report.words_added += len(added)
        report.dropped_examples += drop[:5]
        model = _rebuild(proto, [p for p in normal if p in kept] + added + restored, rank)
    else:                                     # the last round changed the model: measure it once more
        usage = measure(model, sample)
    report.words_single_after = usage.single / max(usage.words, 1)
    return model, report
