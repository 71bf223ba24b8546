"""Atomic readers/writers for run files: parquet tables, jsonl records, numpy arrays.

Every write goes through `common.atomic.atomic_write`, so a killed run leaves each file
either absent or whole, and the per-step completion marker is written last.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from common.atomic import atomic_write

CLEAN_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()),
                          ("source", pa.string()), ("lang", pa.string()), ("domain", pa.string())])


def write_parquet(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_write(path) as handle:
        pq.write_table(table, handle, compression="zstd")


def read_parquet(path: Path, columns: list[str] | None = None) -> list[dict[str, Any]]:
    return pq.read_table(path, columns=columns).to_pylist()


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    with atomic_write(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def write_npy(path: Path, array: np.ndarray) -> None:
    with atomic_write(path) as handle:
        np.save(handle, array, allow_pickle=False)
