"""Documents split into trainer-sized lines, and the Han-character spans the tokenizer uses.

Reading files is `dataprep/reader.py`'s job (one reader for every command).
"""
from __future__ import annotations

import re
from typing import Iterator

from dataprep.stages.normalize import HAN

_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=\.\s)")
_HAN_RUN = re.compile(f"[{HAN}]+")


def split_long(text: str, max_bytes: int) -> Iterator[str]:
    """Non-empty lines of `text`, each at most `max_bytes` UTF-8 bytes.

    Lines that are too long are cut after sentence-ending punctuation, and a sentence that is
    still too long at character boundaries: the trainer would otherwise drop the whole line.
    """
    for line in text.split("\n"):
        if not line.strip():
            continue
        if len(line.encode("utf-8")) <= max_bytes:
            yield line
            continue
        chunk, size = [], 0
        for sentence in _SENTENCE_END.split(line):
            for piece in _cut_bytes(sentence, max_bytes):
                n = len(piece.encode("utf-8"))
                if size + n > max_bytes and chunk:
                    yield "".join(chunk)
                    chunk, size = [], 0
                chunk.append(piece)
                size += n
        if chunk:
            yield "".join(chunk)


def _cut_bytes(text: str, max_bytes: int) -> Iterator[str]:
    start, size = 0, 0
    for i, ch in enumerate(text):
        n = len(ch.encode("utf-8"))
        if size + n > max_bytes:
            yield text[start:i]
            start, size = i, 0
        size += n
    if start < len(text):
        yield text[start:]


def han_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of consecutive Han characters."""
    return [match.span() for match in _HAN_RUN.finditer(text)]


def is_han(text: str) -> bool:
    return _HAN_RUN.fullmatch(text) is not None

