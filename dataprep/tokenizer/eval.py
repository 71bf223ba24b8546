"""Held-out quality of sentencepiece models: compression, word / idiom alignment, fallbacks, round trip.

Every model is scored on the same lines with the same jieba analysis, so numbers side by side
differ only by the tokenizer. Byte spans of pieces come from sentencepiece's serialized
`SentencePieceText` proto (begin/end offsets into the original line), so normalisation that
rewrites characters (the library default nmt_nfkc) is scored correctly too.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable

import sentencepiece as spm
from sentencepiece import sentencepiece_pb2

from dataprep.stages.normalize import detect_lang
from dataprep.tokenizer.lexicon import byte_offsets, idioms_by_frequency, jieba_words
from dataprep.reader import iter_documents


@dataclass
class LineAnalysis:
    """Tokenizer-independent facts about one held-out line."""

    text: str
    lang: str                                   # "zh" or "en"
    words: list[tuple[int, int]]                # byte spans of jieba words of >= 2 Han characters
    two_char: list[bool]                        # per word: exactly two characters?
    idioms: list[tuple[int, int]]               # byte spans of jieba-dict idiom occurrences


@dataclass
class EvalReport:
    name: str
    lines: int = 0
    tokens: int = 0
    zh_chars: int = 0
    zh_tokens: int = 0
    en_chars: int = 0
    en_tokens: int = 0
    words: int = 0
    words_single: int = 0
    two_char_words: int = 0
    two_char_single: int = 0
    idioms: int = 0
    idioms_single: int = 0
    byte_tokens: int = 0
    unk_tokens: int = 0
    exact_lines: int = 0

    def metrics(self) -> dict[str, float]:
        def ratio(a: int, b: int) -> float:
            return a / b if b else float("nan")
        return {
            "zh_chars_per_token": ratio(self.zh_chars, self.zh_tokens),
            "en_chars_per_token": ratio(self.en_chars, self.en_tokens),
            "two_char_words_single": ratio(self.two_char_single, self.two_char_words),
            "two_char_plus_words_single": ratio(self.words_single, self.words),
            "idioms_single": ratio(self.idioms_single, self.idioms),
            "byte_fallback_rate": ratio(self.byte_tokens, self.tokens),
            "unk_rate": ratio(self.unk_tokens, self.tokens),
            "round_trip_exact": ratio(self.exact_lines, self.lines),
        }

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), **self.metrics()}


def _idiom_spans(text: str, idioms: frozenset[str]) -> list[tuple[int, int]]:
    spans, i = [], 0
    while i + 4 <= len(text):
        if text[i:i + 4] in idioms:
            spans.append((i, i + 4))
            i += 4
        else:
            i += 1
    return spans


def analyse(lines: Iterable[str]) -> list[LineAnalysis]:
    """Classify lines zh/en as the data pipeline does (`detect_lang`; others are skipped) and find
    jieba words and idioms in the Chinese ones."""
    idioms = frozenset(idioms_by_frequency())
    out = []
    for text in lines:
        lang = detect_lang(text)
        if lang == "zh":
            offsets = byte_offsets(text)
            words = jieba_words(text)
            encoded = text.encode("utf-8")
            two_char = [len(encoded[b:e].decode("utf-8")) == 2 for b, e in words]
            found = [(offsets[s], offsets[e]) for s, e in _idiom_spans(text, idioms)]
            out.append(LineAnalysis(text, "zh", words, two_char, found))
        elif lang == "en":
            out.append(LineAnalysis(text, "en", [], [], []))
    return out


def heldout_lines(inputs: list[str], text_field: str = "text", max_lines: int = 0) -> list[str]:
    lines: list[str] = []
    for doc in iter_documents(inputs, text_field):
        lines.extend(line for line in doc.text.split("\n") if line.strip())
        if max_lines and len(lines) >= max_lines:
            return lines[:max_lines]
    return lines


def evaluate(name: str, model_file: str, analysed: list[LineAnalysis], batch: int = 512) -> EvalReport:
    sp = spm.SentencePieceProcessor(model_file=model_file)
    report = EvalReport(name)
    for start in range(0, len(analysed), batch):
        chunk = analysed[start:start + batch]
        protos = sp.encode([a.text for a in chunk], out_type="serialized_proto")
        for line, blob in zip(chunk, protos):
            parsed = sentencepiece_pb2.SentencePieceText()
            parsed.ParseFromString(blob)
            ids = [p.id for p in parsed.pieces]
            spans = {(p.begin, p.end) for p in parsed.pieces}
            report.lines += 1
            report.tokens += len(ids)
            report.byte_tokens += sum(1 for i in ids if sp.is_byte(i))
            report.unk_tokens += sum(1 for i in ids if sp.is_unknown(i))
            report.exact_lines += sp.decode(ids) == line.text
            if line.lang == "zh":
                report.zh_chars += len(line.text)
                report.zh_tokens += len(ids)
            else:
                report.en_chars += len(line.text)
                report.en_tokens += len(ids)
            report.words += len(line.words)
            single = [span in spans for span in line.words]
            report.words_single += sum(single)
            report.two_char_words += sum(line.two_char)
            report.two_char_single += sum(s and two for s, two in zip(single, line.two_char))
            report.idioms += len(line.idioms)
            report.idioms_single += sum(1 for span in line.idioms if span in spans)
    return report


def markdown_table(reports: list[EvalReport]) -> str:
    """One row per model; the columns are `EvalReport.metrics()`."""
    columns = list(reports[0].metrics())
    head = "| model | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns) + "\n"
    rows = "".join("| " + r.name + " | " + " | ".join(f"{v:.4f}" for v in r.metrics().values()) + " |\n"
                   for r in reports)
    return head + rows
