"""The bundled sample corpus as Documents with its build tags, for the benchmarks.

`doc.meta["origin"]` names the source (fortunes-zh/chinese, botchan, ...) and
`doc.meta.get("noise")` the synthetic change the build script made (absent: real text as
shipped); see data/sample/README.md. The records a run would quarantine are skipped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from dataprep.core import Document
from dataprep.reader import iter_documents

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "raw"


def sample_documents(inputs: Path = SAMPLE) -> Iterator[Document]:
    return iter_documents([str(inputs)], carry=("origin", "noise"), source_field=None, skipped=[])
