"""Domain tags: the learned classifier, its trainer on weak labels, and its use in a run."""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from common.config import ConfigError, from_dict
from dataprep import runner
from dataprep.cli import main as dataprep_main
from dataprep.domain_model import DomainModel, accuracy_by_domain
from dataprep.domains import DomainConfig
from dataprep.learn import is_holdout
from dataprep_corpus import NO_FILTERS, REFERENCE, config, real_texts, write_jsonl

# (domain, origin prefix, corpus root), zh and en each: three domains a reader tells apart
ORIGINS = [("literature", "botchan", None), ("literature", "fortunes-zh/tang300", None),
           ("sayings", "fortunes/", None), ("sayings", "fortunes-zh/chinese", None),
           ("technical", "debian-reference-en", REFERENCE), ("technical", "debian-faq-zh", REFERENCE)]
TRAIN, RUN = 24, 6        # documents per origin for training (weak labels), then for the run


@pytest.fixture(scope="module")
def corpus():
    """{domain: texts} for training and for the run (disjoint), from the bundled corpora."""
    train: dict[str, list[str]] = {}
    run: dict[str, list[str]] = {}
    for domain, origin, root in ORIGINS:
        texts = real_texts(origin, TRAIN + RUN, *([root] if root else []))
        train.setdefault(domain, []).extend(texts[:TRAIN])
        run.setdefault(domain, []).extend(texts[TRAIN:])
    return train, run


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """A model trained by the command: literature and sayings labelled by a `domain` field,
    technical by a rule on the source path; 30% held out."""
    train, _ = corpus
    root = tmp_path_factory.mktemp("domains")
    write_jsonl(root / "labelled" / "records.jsonl",
                [{"id": f"{d}{i}", "text": t, "domain": d} for d in ("literature", "sayings") for i, t in enumerate(train[d])])
    write_jsonl(root / "labelled" / "manuals" / "part.jsonl", [{"id": f"m{i}", "text": t} for i, t in enumerate(train["technical"])]
                + [{"id": "planted", "text": "A copy of a manual page.", "noise": "exact_dup"}])
    (root / "rules.yaml").write_text(yaml.safe_dump({"domain": {"rules": [{"match": "*/manuals/*", "domain": "technical"}]}}),
                                     encoding="utf-8")
    model = root / "domains.npz"
    assert dataprep_main(["domain", "train", "--input", str(root / "labelled"), "--rules", str(root / "rules.yaml"),
                          "-o", str(model), "--holdout", "0.3"]) == 0
    return root, model


def test_trained_classifier_beats_chance_on_held_out_documents(corpus, trained, capsys):
    root, path = trained
    train, _ = corpus
    model = DomainModel.load(path)
    assert model.domains == ("literature", "sayings", "technical")
    ids = {d: [f"{d}{i}" if d != "technical" else f"m{i}" for i in range(len(train[d]))] for d in train}
    held = [(t, d) for d in train for i, t in zip(ids[d], train[d]) if is_holdout(i, 0.3)]
    manuals = sum(not is_holdout(i, 0.3) for i in ids["technical"])
    assert "--holdout 0.3" in model.recipe and f"technical {manuals}" in model.recipe   # the rule labelled them
    assert len(held) >= 45
    accuracy = accuracy_by_domain(model, [t for t, _ in held], [d for _, d in held])
    # chance is 1/3; measured 0.93-1.0 per domain
    assert all(a["accuracy"] >= 0.9 for a in accuracy.values()), accuracy
    assert dataprep_main(["domain", "train", "--input", str(root / "labelled" / "manuals"), "-o",
                          str(root / "one.npz")]) == 2           # no rules: nothing labelled, no model
    assert "needs at least two" in capsys.readouterr().err


def test_run_tags_mixed_sources_by_the_classifier_and_counts_domains_per_document(corpus, trained, tmp_path):
    """One input file mixes three domains: each document gets its own; a rule-named source keeps
    its rule's domain; by_domain counts the documents tagged, not their sources."""
    train, run = corpus
    _, model = trained
    mixed = [{"id": f"{d}{i}", "text": t} for d in run for i, t in enumerate(run[d])]
    write_jsonl(tmp_path / "raw" / "crawl.jsonl", mixed)
    write_jsonl(tmp_path / "raw" / "books" / "zh.jsonl", [{"id": f"book{i}", "text": t}
                                                          for i, t in enumerate(train["sayings"][-3:])])
    rules = [{"match": "*/books/*", "domain": "books"}]
    manifest = runner.run_all(config([tmp_path / "raw"], tmp_path / "out", shard_size=100,
                                     domain={"rules": rules, "classifier": str(model)}, **NO_FILTERS))
    rows = [r for p in manifest["outputs"]["clean"] for r in pq.read_table(tmp_path / "out" / p).to_pylist()]
    books = [r for r in rows if r["source"].endswith("zh.jsonl")]
    assert books and all(r["domain"] == "books" for r in books)            # a rule wins over the classifier
    crawl = [r for r in rows if r["source"].endswith("crawl.jsonl")]
    right = [r["domain"] == r["id"].rstrip("0123456789") for r in crawl]     # measured 33 of 36, 3 left general
    assert len(crawl) == len(mixed) and sum(right) >= 0.85 * len(crawl), \
        [(r["id"], r["domain"]) for r, ok in zip(crawl, right) if not ok]
    kept = {}
    for r in rows:
        entry = kept.setdefault(r["domain"], {"kept_docs": 0, "kept_chars": 0})
        entry["kept_docs"] += 1
        entry["kept_chars"] += len(r["text"])
    assert {d: {k: g[k] for k in ("kept_docs", "kept_chars")} for d, g in manifest["by_domain"].items()} == kept
    assert {"literature", "sayings", "technical", "books"} <= set(manifest["by_domain"])
    assert sum(g["read_docs"] for g in manifest["by_domain"].values()) == manifest["docs_in"]


def test_rules_win_and_unsure_documents_keep_their_sources_tag(trained):
    """Without a classifier the rules' tags; with one, rule-named sources keep theirs, the others
    (no rule, or `mixed`) get the classifier's above min_confidence and the source's tag below."""
    _, model = trained
    rules = [{"match": "*/books/*", "domain": "books"}, {"match": "*/crawl/*", "domain": "mixed"}]
    texts = ["长江是亚洲第一长河，全长约六千三百公里。"] * 3
    sources = ["raw/books/a.jsonl", "raw/crawl/b.jsonl", "raw/other.jsonl"]
    without = from_dict(DomainConfig, {"rules": rules})
    assert without.tag(texts, sources) == ["books", "mixed", "general"]
    unsure = from_dict(DomainConfig, {"rules": rules, "classifier": str(model), "min_confidence": 1.0})
    assert unsure.tag(texts, sources) == ["books", "mixed", "general"]      # below min_confidence: the source's tag
    sure = from_dict(DomainConfig, {"rules": rules, "classifier": str(model), "min_confidence": 0.0})
    tags = sure.tag(texts, sources)
    assert tags[0] == "books" and tags[1] == tags[2] and tags[1] in ("literature", "sayings", "technical")


def test_config_and_model_file_errors_are_actionable(trained, tmp_path):
    _, model = trained
    with pytest.raises(ConfigError, match="dataprep domain train"):
        DomainConfig(classifier=str(tmp_path / "missing.npz")).validate()
    with pytest.raises(ConfigError, match="probability"):
        DomainConfig(min_confidence=1.5).validate()
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="bad.npz.*dataprep domain train"):
        DomainConfig(classifier=str(tmp_path / "bad.npz")).validate()
    with np.load(model, allow_pickle=False) as data:       # plain arrays only
        arrays = {k: data[k] for k in data.files}
    np.savez(tmp_path / "other.npz", **{k: v for k, v in arrays.items() if k != "domains"})
    with pytest.raises(ConfigError, match="not a domain model"):
        DomainModel.load(tmp_path / "other.npz")


def test_bundled_labels_name_the_sample_origins():
    """The benchmark's weak labels (docs/BENCHMARKS.md): every real origin labelled, planted noise not."""
    from dataprep.domain_train import load_rules

    rules = load_rules(str(REFERENCE.parents[1] / "configs" / "domain" / "sample_labels.yaml"))
    origins = {"botchan": "literature", "fortunes-zh/tang300": "literature", "fortunes-zh/song100": "literature",
               "fortunes/work": "sayings", "fortunes-zh/chinese": "sayings", "debian-reference-en": "technical",
               "debian-faq-zh": "technical", "maint-guide-zh": "technical", "synthetic": None}
    assert {origin: rules.rule_of(origin) for origin in origins} == origins
