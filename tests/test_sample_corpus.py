"""The bundled sample corpus is what data/sample/README.md says it is."""
from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

from dataprep.stages.normalize import detect_lang
from dataprep.stages.pii import valid_id_card

RAW = Path(__file__).resolve().parents[1] / "data" / "sample" / "raw"


def test_sample_matches_its_readme():
    noise: Counter[str] = Counter()
    unparsable = 0
    zh_bytes = 0
    pii_ids = []
    ids = Counter()
    for path in sorted(RAW.glob("part-*.jsonl.gz")):
        for raw in gzip.open(path, "rb"):
            try:
                record = json.loads(raw)
            except ValueError:
                unparsable += 1
                continue
            ids[record.get("id")] += 1
            noise[str(record.get("noise")).split(":")[0]] += 1
            text = record.get("text")
            if isinstance(text, str) and detect_lang(text) == "zh":
                zh_bytes += len(text.encode("utf-8"))
            if record.get("noise") == "pii":
                pii_ids += re.findall(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])", text)   # written ungrouped
    assert sum(noise.values()) + unparsable == 1643 and unparsable == 4   # + badutf8-0000, invalid bytes
    assert noise == {"None": 1321, "web_page": 104, "exact_dup": 58, "near_dup": 58, "pii": 27, "spam": 15,
                     "seo": 15, "repeated": 15, "short": 15, "digits": 10, "empty": 1}
    assert max(ids.values()) == 1                      # duplicates are new records with their own ids
    assert zh_bytes > 1_000_000
    assert len(pii_ids) == 27 and all(valid_id_card(n) for n in pii_ids)
    assert sum(p.stat().st_size for p in RAW.glob("*")) < 3_000_000
    assert re.search(r"GPL-3\.0-or-later", (RAW.parent / "README.md").read_text(encoding="utf-8"))
