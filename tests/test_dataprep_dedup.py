"""Exact and MinHash near-dedup on real Chinese and English paragraphs with planted edited copies."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from dataprep_corpus import NO_FILTERS, config, edit, real_texts, write_jsonl

from dataprep import runner
from dataprep.stages import exact_dedup, minhash

EDITS = ("insert", "delete", "reorder")


def true_jaccard(a: str, b: str) -> float:
    sa, sb = set(minhash.shingles(a, 5, 5)), set(minhash.shingles(b, 5, 5))
    return len(sa & sb) / len(sa | sb)


def test_planted_near_duplicates_recall_and_precision(tmp_path):
    rng = random.Random(7)
    zh = [t for t in real_texts("fortunes-zh/", 400) if len(t) >= 200][:160]
    en = [t for t in real_texts("fortunes/", 200) if len(t) >= 400][:90]
    base = list(dict.fromkeys(zh + en))               # the sample repeats a few entries verbatim
    records = [{"id": f"b{i}", "text": t} for i, t in enumerate(base)]
    planted = {}
    for n, i in enumerate(rng.sample(range(len(base)), 80)):
        copy_id = f"copy{n}"
        records.append({"id": copy_id, "text": edit(base[i], rng, EDITS[n % 3])})
        planted[copy_id] = f"b{i}"
    rng.shuffle(records)
    write_jsonl(tmp_path / "in.jsonl", records)
    cfg = config([tmp_path / "in.jsonl"], tmp_path / "out", shard_size=100, **NO_FILTERS)
    manifest = runner.run_all(cfg)

    cluster_of = {}
    for line in (tmp_path / "out" / "clusters.jsonl").open(encoding="utf-8"):
        cluster = json.loads(line)
        for member in [cluster["kept"]] + [d["id"] for d in cluster["duplicates"]]:
            cluster_of[member] = cluster["kept"]
    found = sum(1 for c, orig in planted.items() if c in cluster_of and cluster_of[c] == cluster_of.get(orig))
    recall = found / len(planted)

    texts = {r["id"]: r["text"] for r in records}
    removed = [json.loads(line) for line in (tmp_path / "out" / "removed.jsonl").open(encoding="utf-8")]
    near = [r["id"] for r in removed if r["reason"] == "near_duplicate"]
    correct = sum(1 for d in near if true_jaccard(texts[d], texts[cluster_of[d]]) >= 0.5)
    precision = correct / len(near)
    print(f"planted near-duplicates: recall {recall:.3f}, precision {precision:.3f} ({len(near)} removed)")
    assert recall >= 0.9, recall
    assert precision >= 0.95, precision
    assert manifest["stages"]["minhash"]["counters"]["bands"] == 14


def test_chinese_near_duplicates_found_where_whitespace_words_miss(tmp_path):
    rng = random.Random(3)
    prose = [t for t in real_texts("fortunes-zh/chinese", 80) if len(t) >= 300 and t.count(" ") < 5]
    originals = prose[:5]
    copies = [edit(t, rng, "insert") for t in originals]

    def whitespace_jaccard(a: str, b: str) -> float:
        grams = [{" ".join(w[i:i + 5]) for i in range(max(1, len(w) - 4))} for w in (a.split(), b.split())]
        return len(grams[0] & grams[1]) / len(grams[0] | grams[1])

    sig, valid = minhash.signatures(originals + copies, 128, 1, 5, 5)
    np.save(tmp_path / "sig.npy", sig)
    store = minhash.SignatureStore([tmp_path / "sig.npy"])
    bands, rows = minhash.band_params(0.7, 128)
    roots = minhash.lsh_clusters(store, np.flatnonzero(valid), 0.7, bands, rows).roots()
    n = len(originals)
    for i in range(n):
        assert whitespace_jaccard(originals[i], copies[i]) < 0.5     # far below the 0.7 threshold
        assert roots[n + i] == i, f"copy of paragraph {i} not clustered with it"
    assert len(set(roots[:n].tolist())) == n                  # different paragraphs stay apart


def test_shingles_han_chars_and_latin_words_after_dedup_normalisation():
    assert minhash.dedup_normalize("Hello，世界！2024年") == "hello 世界 0000年"
    assert minhash.shingles("今天天气很好啊。", 5, 5)[0] == "今 天 天 气 很".encode()
    assert minhash.shingles("The 3 quick brown foxes jumped!", 5, 5) == [
        b"the 0 quick brown foxes", b"0 quick brown foxes jumped"]
    assert minhash.shingles("！？。…", 5, 5) == []


def test_band_parameters_follow_datasketch_optimum():
    assert minhash.band_params(0.7, 128) == (14, 9)
    assert minhash.band_params(0.8, 128) == (9, 13)


def test_exact_dedup_keeps_first_occurrence():
    hashes = exact_dedup.text_hashes(["a", "b", "a", "c", "b", "a"])
    assert exact_dedup.first_occurrences(hashes).tolist() == [0, 1, 0, 3, 1, 0]


def test_exact_duplicates_across_files_keep_the_first_file(tmp_path):
    text = real_texts("fortunes/", 1)[0]
    write_jsonl(tmp_path / "b.jsonl", [{"id": "later", "text": text}])
    write_jsonl(tmp_path / "a.jsonl", [{"id": "other", "text": "Something else entirely, said twice."},
                                       {"id": "first", "text": text + "\n\n"}])
    runner.run_all(config([tmp_path / "b.jsonl", tmp_path / "a.jsonl"], tmp_path / "out", **NO_FILTERS))
    kept = [r["id"] for p in sorted((tmp_path / "out" / "clean").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert kept == ["other", "first"]
    removed = Path(tmp_path / "out" / "removed.jsonl").read_text(encoding="utf-8")
    assert '"id": "later"' in removed and '"reason": "exact_duplicate"' in removed
