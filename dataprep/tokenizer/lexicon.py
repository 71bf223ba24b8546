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


def top_idioms(k: int) -> list[str]:
    return list(idioms_by_frequency()[:k])


def segment_han(text: str, delimiter: str) -> str:
    """Insert `delimiter` between jieba words inside Han runs only; Latin text keeps its spaces untouched."""
    out, last = [], 0
    for start, end in han_runs(text):
        out.append(text[last:start])
        out.append(delimiter.join(jieba.cut(text[start:end], HMM=True)))
        last = end
    out.append(text[last:])
    return "".join(out)
