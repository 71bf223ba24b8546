"""Small corpora for the dataprep tests: real paragraphs from data/sample/, written in every input format."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from common.config import from_dict
from dataprep.config import DataConfig
from dataprep.stages.normalize import detect_lang

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "raw"
REFERENCE = SAMPLE.parents[1] / "reference"       # Debian manuals: modern technical prose
# config overrides that leave only reading, normalising and dedup (for tests of exactly those)
NO_FILTERS = {"lines": {"enabled": False}, "quality": {"enabled": False}, "doc_score": {"enabled": False},
              "safety": {"enabled": False}}


def real_texts(origin_prefix: str, limit: int, root: Path = SAMPLE) -> list[str]:
    """Unedited documents (noise == null) of the sample (or `root`, e.g. REFERENCE) whose origin
    starts with `origin_prefix`."""
    texts = []
    for path in sorted(root.glob("*.jsonl.gz")):
        for raw in gzip.open(path, "rb"):
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if (isinstance(record, dict) and record.get("noise") is None and isinstance(record.get("text"), str)
                    and str(record.get("origin", "")).startswith(origin_prefix)):
                texts.append(record["text"])
                if len(texts) == limit:
                    return texts
    return texts


def write_jsonl(path: Path, records: list[dict | str]) -> Path:
    """Records as JSON lines; a str record is written verbatim (for broken lines)."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_parquet(path: Path, records: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def mixed_corpus(root: Path) -> Path:
    """A corpus in all formats with known duplicates; returns the input directory."""
    zh = real_texts("fortunes-zh/chinese", 12)
    en = real_texts("fortunes/", 12)
    inputs = root / "raw"
    write_jsonl(inputs / "a.jsonl", [{"id": f"zh{i}", "text": t} for i, t in enumerate(zh[:6])]
                + [{"text": zh[0]}])                              # exact copy of zh0, no id -> "a:7"
    write_jsonl(inputs / "b.jsonl.gz", [{"text": t} for t in en[:6]])
    write_jsonl(inputs / "c.jsonl.zst", [{"text": t} for t in zh[6:]] + [{"text": en[0] + " Extra words."}])
    write_parquet(inputs / "d.parquet", [{"id": f"en{i}", "text": t} for i, t in enumerate(en[6:])])
    (inputs / "txt").mkdir()
    (inputs / "txt" / "one.txt").write_text(zh[1] + "\n", encoding="utf-8")
    (inputs / "txt" / "two.txt").write_text("A short English note about the weather today.", encoding="utf-8")
    return inputs


def config(inputs: list[Path | str], out: Path, **overrides) -> DataConfig:
    """A DataConfig for a test run; overrides may be nested dicts, e.g. read={"max_doc_chars": 9}."""
    fields = {"inputs": [str(p) for p in inputs], "output": str(out), "num_workers": 1, "shard_size": 4}
    return from_dict(DataConfig, {**fields, **overrides})


def edit(text: str, rng: random.Random, kind: str) -> str:
    """A near-duplicate: "insert"/"delete" a Han character per 100 of Chinese text or a word per 50 of
    English text (true shingle Jaccard ~0.88); "reorder" swaps two adjacent lines (or the halves)."""
    if kind == "reorder":
        lines = text.split("\n")
        if len(lines) < 3:
            return text[len(text) // 2:] + "\n" + text[: len(text) // 2]
        i = rng.randrange(len(lines) - 1)
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
        return "\n".join(lines)
    chinese = detect_lang(text) == "zh"
    units = list(text) if chinese else text.split(" ")
    for _ in range(max(1, len(units) // (100 if chinese else 50))):
        if kind == "insert":
            units.insert(rng.randrange(len(units)), rng.choice(units))
        else:
            del units[rng.randrange(len(units))]
    return ("" if chinese else " ").join(units)
