"""Documents from text files (parquet / jsonl / txt) and their split into trainer-sized lines.

One reader for tokenizer training, evaluation, packing and `count`, so all of them agree on what
a document is: a parquet row or jsonl record (`text` field), or a non-empty line of a .txt file.
"""
from __future__ import annotations

import glob
import json
import re
from pathlib import Path
from typing import Iterable, Iterator

from dataprep.core import Document

SUFFIXES = (".parquet", ".jsonl", ".txt")
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=\.\s)")
_HAN_CLASS = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
_HAN = re.compile(_HAN_CLASS)
_HAN_RUN = re.compile(_HAN_CLASS + "+")


class InputError(ValueError):
    """Unreadable input; the message names the file (and line or field)."""


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files, directories (their parquet/jsonl/txt files) or globs -> sorted list of files."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        elif path.is_file():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
        if not found:
            raise InputError(f"{item}: no input files found (expected .parquet, .jsonl or .txt)")
        files.extend(found)
    return files


def read_documents(path: str | Path, text_field: str = "text") -> Iterator[Document]:
    """Documents of one file; `source` is taken from a `source` column/field when present."""
    path = Path(path)
    if path.suffix == ".parquet":
        yield from _read_parquet(path, text_field)
    elif path.suffix == ".jsonl":
        yield from _read_jsonl(path, text_field)
    elif path.suffix == ".txt":
        with open(path, encoding="utf-8", errors="strict") as handle:
            try:
                for number, line in enumerate(handle, 1):
                    if line.strip():
                        yield Document(id=f"{path.name}:{number}", text=line.rstrip("\n"), source=path.name)
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start} of a block)") from None
    else:
        raise InputError(f"{path}: unsupported file type (expected .parquet, .jsonl or .txt)")


def iter_documents(inputs: Iterable[str | Path], text_field: str = "text") -> Iterator[Document]:
    for path in expand_inputs(inputs):
        yield from read_documents(path, text_field)


def _read_parquet(path: Path, text_field: str) -> Iterator[Document]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        raise InputError(f"{path}: not a readable parquet file ({exc})") from None
    names = parquet.schema_arrow.names
    if text_field not in names:
        raise InputError(f"{path}: no column {text_field!r} (columns: {', '.join(names)})")
    columns = [c for c in ("id", text_field, "source", "lang") if c in names]
    row = 0
    try:
        for batch in parquet.iter_batches(columns=columns, batch_size=2048):
            data = batch.to_pydict()
            for k, text in enumerate(data[text_field]):
                doc_id = data["id"][k] if "id" in data else f"{path.name}:{row}"
                meta = {"lang": data["lang"][k]} if "lang" in data else {}
                yield Document(id=str(doc_id), text=text or "",
                               source=data["source"][k] if "source" in data else path.name, meta=meta)
                row += 1
    except (OSError, ValueError) as exc:      # pyarrow's IOError / ArrowInvalid on damaged pages
        raise InputError(f"{path}: parquet data is corrupted near row {row} ({exc})") from None


def _read_jsonl(path: Path, text_field: str) -> Iterator[Document]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
                raise InputError(f"{path}:{number}: field {text_field!r} missing or not a string")
            yield Document(id=str(record.get("id", f"{path.name}:{number}")), text=record[text_field],
                           source=str(record.get("source", path.name)),
                           meta={"lang": record["lang"]} if "lang" in record else {})


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


def han_share(text: str) -> float:
    """Share of Han characters among non-space characters (0 for blank text)."""
    visible = sum(1 for ch in text if not ch.isspace())
    return len(_HAN.findall(text)) / visible if visible else 0.0
