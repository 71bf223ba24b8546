"""Exact and MinHash near-dedup on real Chinese and English paragraphs with planted edited copies."""
from __future__ import annotations

import json
import random
import re
import textwrap
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from dataprep_corpus import NO_FILTERS, config, edit, real_texts, write_jsonl

from dataprep import runner
from dataprep.config import MinHashConfig
from dataprep.stages import exact_dedup, minhash

EDITS = ("insert", "delete", "reorder")
MH = MinHashConfig()
OLD = MinHashConfig(threshold=0.7, han_ngram=5, word_ngram=5, latin_char_ngram=0,
                    false_positive_weight=0.5, false_negative_weight=0.5)   # the defaults before issue 14


def true_jaccard(a: str, b: str, mh: MinHashConfig | None = None) -> float:
    mh = mh or MH
    sa = set(minhash.shingles(a, mh.han_ngram, mh.word_ngram, mh.latin_char_ngram))
    sb = set(minhash.shingles(b, mh.han_ngram, mh.word_ngram, mh.latin_char_ngram))
    return len(sa & sb) / len(sa | sb)


def cluster_roots(texts: list[str], mh: MinHashConfig, tmp_path: Path) -> np.ndarray:
    """The runner's near-dup path on `texts`: signatures, band_params, LSH with verification, roots."""
    sig, valid = minhash.signatures(texts, mh.num_perm, mh.seed, mh.han_ngram, mh.word_ngram, mh.batch_size,
                                    mh.latin_char_ngram)
    np.save(tmp_path / "sig.npy", sig)
    store = minhash.SignatureStore([tmp_path / "sig.npy"])
    bands, rows = minhash.band_params(mh.threshold, mh.num_perm, mh.false_positive_weight, mh.false_negative_weight)
    return minhash.lsh_clusters(store, np.flatnonzero(valid), mh.threshold, bands, rows).roots()


def repost(text: str, rng: random.Random, rate: float = 0.08) -> str:
    """An English repost: `rate` of the words misspelt (letters swapped), replaced or dropped,
    curly quotes, lines re-wrapped at 60 columns, a source line on top."""
    words = text.split()
    for i in rng.sample(range(len(words)), round(rate * len(words))):
        w = words[i]
        op = rng.choice(("swap", "replace", "drop"))
        words[i] = (w[1] + w[0] + w[2:] if len(w) > 1 else w + w) if op == "swap" else \
            rng.choice(("very", "quite", "really")) if op == "replace" else ""
    body = textwrap.fill(re.sub(r'"([^"]*)"', "\u201c\\1\u201d", " ".join(w for w in words if w)), 60)
    return "Source: The Daily Ledger | Edited by Tom Chen\n\n" + body.replace("'", "\u2019")


def site_page(article: str, day: int) -> str:
    """A short article inside the same site chrome as every other page of that site."""
    return "\n".join(["The Daily Ledger | Home | News | Opinion | Business | Tech | Sports | Subscribe | Sign in",
                      "You are here: Home > News > Article", f"Published {day} March 2024", "", article, "",
                      "Share this article: Facebook | Twitter | LinkedIn | Email", "Related articles",
                      "Ten tips for a healthier morning routine", "What the new budget means for your savings",
                      "Back to top", "Copyright (c) 2010-2024 The Daily Ledger. All rights reserved. | Privacy"])


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
    assert manifest["stages"]["minhash"]["counters"]["bands"] == minhash.band_params(
        MH.threshold, MH.num_perm, MH.false_positive_weight, MH.false_negative_weight)[0]


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
    assert minhash.shingles("今天天气很好啊。", 5, 5)[0] == "今天天气很".encode()
    assert minhash.shingles("今天天气很好啊。", 5, 5, latin_char_ngram=0)[0] == "今 天 天 气 很".encode()
    assert minhash.shingles("The 3 quick brown foxes jumped!", 5, 5, latin_char_ngram=0) == [
        b"the 0 quick brown foxes", b"0 quick brown foxes jumped"]
    assert minhash.shingles("！？。…", 5, 5) == []
    assert minhash.shingles("The  quick\nfox", 3, 5, 6) == [b"the qu", b"he qui", b"e quic", b" quick",
                                                           b"quick ", b"uick f", b"ick fo", b"ck fox"]
    # Han characters start 3-grams, others 6-grams; no space beside a Han character
    assert minhash.shingles("用 ls 命令行", 3, 5, 6) == ["用ls".encode(), "命令行".encode()]


def test_dedup_normalisation_folds_full_width_and_typographic_forms():
    assert minhash.dedup_normalize("ＡＢＣ１２３") == "abc000"
    assert minhash.char_stream("\u201cDon\u2019t\u201d \u2014  ﬁne\tday") == minhash.char_stream('"Don\'t" -- fine day')


def test_shingle_hashes_match_readable_shingles():
    for text in real_texts("fortunes-zh/", 40) + real_texts("fortunes/", 40):
        for han, char in ((3, 6), (5, 0)):
            assert len(set(minhash.shingle_hashes(text, han, 5, char).tolist())) == len(set(minhash.shingles(text, han, 5, char)))


def test_signatures_equal_datasketch_minhash():
    from datasketch import LeanMinHash, MinHash

    texts = real_texts("fortunes/", 5) + real_texts("fortunes-zh/", 5)
    sig, valid = minhash.signatures(texts, 128, 1, 3, 5, batch_size=100)
    sets = [minhash.shingle_hashes(t, 3, 5).tolist() for t in texts]
    expected = np.stack([LeanMinHash(m).hashvalues for m in MinHash.bulk(sets, num_perm=128, seed=1, hashfunc=int)])
    assert valid.all() and (sig == expected).all()


def test_english_edited_repost_is_found(tmp_path):
    rng = random.Random(5)
    originals = [t for t in real_texts("fortunes/", 60) if len(t.split()) >= 150][:6]
    copies = [repost(t, rng) for t in originals]
    n = len(originals)
    roots = cluster_roots(originals + copies, MH, tmp_path)
    assert [int(roots[n + i]) for i in range(n)] == list(range(n))      # each repost joins its original
    assert len(set(roots[:n].tolist())) == n                            # the originals stay apart
    assert all(true_jaccard(o, c, OLD) < 0.6 for o, c in zip(originals, copies))   # word 5-grams lose them


def test_hard_negative_same_site_chrome_both_kept(tmp_path):
    articles = [a.split("\n\n")[0][:500] for a in real_texts("botchan", 30) if len(a.split("\n\n")[0]) >= 400][:8]
    pages = [site_page(a, day) for day, a in enumerate(articles, 1)]
    roots = cluster_roots(pages, MH, tmp_path)
    assert roots.tolist() == list(range(len(pages)))


def test_lsh_s_curve_midpoint_at_or_below_threshold():
    bands, rows = minhash.band_params(MH.threshold, MH.num_perm, MH.false_positive_weight, MH.false_negative_weight)
    assert bands * rows <= MH.num_perm and (1 / bands) ** (1 / rows) <= MH.threshold


def test_union_find_roots_vectorised_equal_the_python_loop():
    rng = random.Random(11)
    uf = minhash.UnionFind(3000)
    for a in range(1, 2999, 3):                      # long chains, unioned from the far end
        uf.union(a, a + 1)
    for _ in range(2000):
        uf.union(rng.randrange(3000), rng.randrange(3000))
    vectorised = minhash.UnionFind(3000)
    vectorised.parent = uf.parent.copy()
    expected = [uf.find(i) for i in range(3000)]
    assert vectorised.roots().tolist() == expected
    assert all(r <= i for i, r in enumerate(expected))          # the root is the smallest member


def test_band_parameters_follow_datasketch_optimum():
    assert minhash.band_params(0.7, 128) == (14, 9)
    assert minhash.band_params(0.8, 128) == (9, 13)
    assert minhash.band_params(0.5, 128, 0.1, 0.9) == (32, 4)


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


def test_runner_applies_the_configured_shingles(tmp_path):
    """`dataprep run` finds edited English reposts with the default shingles and passes the minhash
    section through: the old word 5-gram setting, given by config, loses them."""
    import dataclasses
    rng = random.Random(5)
    originals = [t for t in real_texts("fortunes/", 60) if len(t.split()) >= 150][:6]
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": f"o{i}", "text": t} for i, t in enumerate(originals)]
                       + [{"id": f"c{i}", "text": repost(t, rng)} for i, t in enumerate(originals)])
    found = {}
    for name, mh in (("default", {}), ("old", dataclasses.asdict(OLD))):
        manifest = runner.run_all(config([path], tmp_path / name, minhash=mh, **NO_FILTERS))
        found[name] = manifest["removed_by_reason"].get("minhash/near_duplicate", 0)
    assert found["default"] == len(originals) and found["old"] < len(originals) // 2
