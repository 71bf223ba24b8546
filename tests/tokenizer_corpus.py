"""Cleaned-shard fixtures for the tokenizer and packing tests: real sample text as parquet, a tiny model."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.tokenizer.config import TokenizerConfig
from dataprep.tokenizer.train import train_tokenizer
from tests.dataprep_corpus import real_texts


def sample_documents(zh: int = 120, en: int = 40) -> list[dict[str, str]]:
    """Rows shaped like the data-prep runner's clean output (id, text, source, lang)."""
    rows = [{"id": f"{lang}-{i}", "text": t, "source": origin.rstrip("/"), "lang": lang}
            for lang, origin, n in (("zh", "fortunes-zh", zh), ("en", "fortunes/", en)) if n
            for i, t in enumerate(real_texts(origin, n))]
    assert len(rows) == zh + en, "data/sample/raw is missing or smaller than expected"
    return rows


def write_clean_shards(directory: Path, rows: list[dict[str, str]], shards: int) -> list[Path]:
    """Rows dealt round-robin into <directory>/part-0000K.parquet."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(shards):
        part = rows[k::shards]
        path = directory / f"part-{k:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(part), path)
        paths.append(path)
    return paths


def tiny_tokenizer(directory: Path, rows: list[dict[str, str]], **overrides) -> Path:
    """A 3,000-piece BPE with the production settings except coverage (tiny vocab, ~1 s to train)."""
    clean = write_clean_shards(directory / "clean", rows, 2)
    config = TokenizerConfig(**{"vocab_size": 3000, "character_coverage": 0.98, "idiom_symbols": 50, **overrides})
    report = train_tokenizer(config, [str(p) for p in clean], directory / "tokenizer")
    return Path(report["model"])
