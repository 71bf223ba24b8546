"""`dataprep domain train`: fit the domain classifier (`dataprep.domain_model`) on weak labels.

A record's label is its `domain` field (`--label-field`) when it has one, else the domain of the
first `domain.rules` entry (of `--rules`) that matches its source: the file path, or with
`--source-field` a record field such as `origin`. Records neither names (and sources a rule
marks `mixed`) are unlabelled and left out, as are records with a `noise` field set (the
bundled sample's planted noise: copies of real documents, which would leak across the held-out
split) and records `dataprep run` would quarantine. Text is normalised as the run's normalize
stage does before the read step tags it. Kept apart from `dataprep.domains` (which loads the
model for runs) so that neither imports the other's side.

    dataprep domain train --input data/sample/raw data/reference \\
        --rules configs/domain/sample_labels.yaml --source-field origin --holdout 0.2 -o domains.npz
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from common.config import ConfigError, expand_includes, from_dict, read_yaml
from dataprep.config import DataConfig
from dataprep.domain_model import DomainModel, Featurizer, accuracy_by_domain
from dataprep.domains import DomainConfig
from dataprep.learn import is_holdout
from dataprep.reader import InputError, iter_documents
from dataprep.stages.normalize import normalize_text


def load_rules(path: str) -> DomainConfig:
    """The `domain` section of a data config (`domain: FILE` included), or a file holding only that section."""
    raw = read_yaml(path)
    if "domain" in raw:
        raw = expand_includes(DataConfig, {"domain": raw["domain"]}, Path(path).parent)["domain"]
    return from_dict(DomainConfig, raw, path, "domain.")


def labelled(inputs: list[str], rules: DomainConfig, source_field: str | None = None,
             label_field: str = "domain") -> tuple[list[tuple[str, str, str, str]], Counter[str]]:
    """(id, normalised text, domain, source) of every labelled record, and how many records were
    skipped why."""
    out, skipped = [], Counter()
    quarantined: list = []
    try:
        for doc in iter_documents(inputs, carry=(label_field, "noise"), source_field=source_field, skipped=quarantined):
            label = doc.meta.get(label_field)
            if doc.meta.get("noise"):
                skipped["noise"] += 1
            elif isinstance(label, str) and label:
                out.append((doc.id, normalize_text(doc.text)[0], label, doc.source))
            elif not rules.classified(doc.source):      # a rule names the source's domain
                out.append((doc.id, normalize_text(doc.text)[0], rules.of(doc.source), doc.source))
            else:
                skipped["unlabelled"] += 1
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    skipped["quarantined"] = len(quarantined)
    return out, skipped


def accuracy_table(accuracy: dict[str, dict[str, float]], min_confidence: float) -> list[str]:
    """Held-out accuracy per domain as Markdown rows."""
    rows = ["| domain | held-out docs | accuracy | tagged at min_confidence "
            f"{min_confidence} | accuracy of tagged |", "|---|---:|---:|---:|---:|"]
    for domain, a in accuracy.items():
        rows.append(f"| {domain} | {a['docs']} | {a['accuracy']:.3f} | {a['tagged']:.3f} | {a['tagged_accuracy']:.3f} |")
    docs = sum(a["docs"] for a in accuracy.values())
    if docs:
        rows.append(f"| all | {docs} | {sum(a['accuracy'] * a['docs'] for a in accuracy.values()) / docs:.3f} | "
                    f"{sum(a['tagged'] * a['docs'] for a in accuracy.values()) / docs:.3f} | |")
    return rows


def cmd_train(args: argparse.Namespace) -> int:
    if not 0.0 <= args.holdout < 1.0 or not 0.0 <= args.min_confidence <= 1.0:
        raise ConfigError(f"--holdout must be in [0, 1) and --min-confidence in [0, 1], got {args.holdout} "
                          f"and {args.min_confidence}")
    if not 8 <= args.bits <= 24:
        raise ConfigError(f"--bits must be in [8, 24] (2^bits feature buckets), got {args.bits}")
    rules = load_rules(args.rules) if args.rules else DomainConfig()
    docs, skipped = labelled(args.input, rules, args.source_field, args.label_field)
    train = [d[1:3] for d in docs if not is_holdout(d[0], args.holdout)]
    held = [d[1:3] for d in docs if is_holdout(d[0], args.holdout)]
    counts = Counter(label for _, label in train)
    print(f"{len(docs)} labelled documents ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))} for training, "
          f"{len(held)} held out); skipped: {dict(skipped)}", file=sys.stderr)
    model = DomainModel.fit([t for t, _ in train], [label for _, label in train], Featurizer(bits=args.bits))
    lines = [f"{len(train)} training documents: {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}"]
    if held:
        accuracy = accuracy_by_domain(model, [t for t, _ in held], [label for _, label in held], args.min_confidence)
        print("\n".join(accuracy_table(accuracy, args.min_confidence)))
        lines.append("held-out accuracy " + ", ".join(f"{k} {a['accuracy']:.3f} ({a['docs']})" for k, a in accuracy.items()))
    model.recipe = (f"dataprep domain train --input {' '.join(args.input)}"
                    f"{f' --rules {args.rules}' if args.rules else ''}"
                    f"{f' --source-field {args.source_field}' if args.source_field else ''}"
                    f" --label-field {args.label_field} --holdout {args.holdout} --bits {args.bits}: " + "; ".join(lines))
    model.save(args.output)
    print(f"{args.output}: {Path(args.output).stat().st_size / 1e6:.2f} MB, domains {list(model.domains)}", file=sys.stderr)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    domain = subparsers.add_parser(
        "domain", help="train the domain classifier used by domain.classifier",
        description="Train the domain classifier (hashed n-grams + multinomial logistic regression) on weakly "
                    "labelled documents: a `domain` field, or the domain.rules matching their source.")
    sub = domain.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train a model and print its held-out accuracy per domain")
    train.add_argument("--input", nargs="+", required=True, help="jsonl(.gz)/parquet/txt files or directories")
    train.add_argument("-o", "--output", required=True, help="model file to write (.npz)")
    train.add_argument("--rules", default="", help="YAML with domain rules: a data config (its `domain` section) "
                                                  "or that section alone, e.g. configs/domain/sample_labels.yaml")
    train.add_argument("--source-field", default=None,
                       help="record field the rules match instead of the file path (e.g. origin)")
    train.add_argument("--label-field", default="domain", help="record field holding a label (default: domain)")
    train.add_argument("--holdout", type=float, default=0.2,
                       help="fraction of documents (by id hash) left out of training and scored")
    train.add_argument("--min-confidence", type=float, default=DomainConfig.min_confidence,
                       help="also report the share of held-out documents tagged at this confidence")
    train.add_argument("--bits", type=int, default=Featurizer.bits, help="log2 of the hashed feature buckets")
    train.set_defaults(func=cmd_train)
