"""jieba's dictionary as a word list: idioms for user-defined symbols and the evaluation, words for segmentation."""
from __future__ import annotations

import functools
import logging
from pathlib import Path

import jieba

from dataprep.tokenizer.textio import han_runs, is_han

jieba.setLogLevel(logging.WARNING)


def jieba_dict_path() -> Path:
    return Path(jieba.__file__).parent / "dict.txt"


@functools.lru_cache(maxsize=1)
def idioms_by_frequency() -> tuple[str, ...]:
    """Four-Han-character entries tagged `i` (idiom) in jieba's dict.txt, most frequent first."""
    entries = []
    with open(jieba_dict_path(), encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "i" and len(parts[0]) == 4 and is_han(parts[0]):
                entries.append((-int(parts[1]), parts[0]))
    return tuple(word for _, word in sorted(entries))


@functools.lru_cache(maxsize=1)
def han_word_frequencies() -> dict[str, int]:
    """Entries of two or more Han characters in jieba's dict.txt with their frequencies."""
    words = {}
    with open(jieba_dict_path(), encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 2 and len(parts[0]) >= 2 and is_han(parts[0]):
                words[parts[0]] = int(parts[1])
    return words


def byte_offsets(text: str) -> list[int]:
    """UTF-8 byte offset of each character position (len(text) + 1 entries)."""
    offsets = [0]
    for ch in text:
        offsets.append(offsets[-1] + len(ch.encode("utf-8")))
    return offsets


def jieba_words(text: str) -> list[tuple[int, int]]:
    """UTF-8 byte spans (sentencepiece's offsets) of the words of >= 2 Han characters that
    jieba (dictionary + HMM) finds in `text`: the unit of the word-alignment measurements."""
    offsets = byte_offsets(text)
    return [(offsets[s], offsets[e]) for w, s, e in jieba.tokenize(text) if len(w) >= 2 and is_han(w)]


def top_idioms(k: int) -> list[str]:
    return list(idioms_by_frequency()[:k])


def segment_han(text: str, delimiter: str) -> str:
    """Put `delimiter` around the jieba words of >= 2 characters inside Han runs; runs of
    single-character words stay joined (的, 了, 在 merging with each other breaks no word, and
    measured +1 point of words-as-one-token at equal compression vs a delimiter between every
    word). Latin text keeps its spaces untouched."""
    out, last = [], 0
    for start, end in han_runs(text):
        out.append(text[last:start])
        groups: list[str] = []
        single = False                   # is groups[-1] a run of one-character words?
        for word in jieba.cut(text[start:end], HMM=True):
            if len(word) == 1 and single:
                groups[-1] += word
            else:
                groups.append(word)
                single = len(word) == 1
        out.append(delimiter.join(groups))
        last = end
    out.append(text[last:])
    return "".join(out)
