"""Domain classifier: held-out accuracy per domain on the bundled corpora, by the training command.

Weak labels by origin (configs/domain/sample_labels.yaml): literature (Botchan, Tang and Song
poems), sayings (fortunes, fortunes-zh/chinese), technical (Debian manuals). Three measurements:

1. `dataprep domain train ... --holdout 0.2` itself (its printed table, verbatim): documents
   held out by id hash, their sources seen in training;
2. the same model at several `domain.min_confidence` cut-offs: share of held-out documents
   tagged, and accuracy of those;
3. unseen sources: for each origin, a model trained on every other labelled document scores
   that origin's documents. This is the case of a corpus whose sources were never labelled, and
   the test of whether a label names a domain or just its few sources.

    python benchmarks/bench_domains.py [--holdout 0.2]
"""
from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from collect import machine
from dataprep.domain_model import DomainModel, accuracy_by_domain
from dataprep.domain_train import labelled, load_rules
from dataprep.learn import is_holdout

INPUTS = ["data/sample/raw", "data/reference"]
RULES = "configs/domain/sample_labels.yaml"
CUTS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--holdout", type=float, default=0.2)
    args = parser.parse_args()
    command = ["dataprep", "domain", "train", "--input", *INPUTS, "--rules", RULES, "--source-field", "origin",
               "--holdout", str(args.holdout)]
    out = ["## Domain classifier (`benchmarks/bench_domains.py`)", "",
           f"`python benchmarks/bench_domains.py --holdout {args.holdout}`. Machine: {machine()}. "
           f"Date: {datetime.date.today().isoformat()}.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "domains.npz"
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "dataprep.cli", *command[1:], "-o", str(model_path)],
                              check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        model = DomainModel.load(model_path)
        size = model_path.stat().st_size
    out += [f"### Held out by id hash: `{' '.join(command)} -o domains.npz`", "",
            f"{done.stderr.strip().splitlines()[0]}. Training took {seconds:.0f} s (reading and featurising "
            f"included); the model file is {size / 1e6:.2f} MB.", "", done.stdout.strip(), ""]

    docs, _ = labelled(INPUTS, load_rules(RULES), "origin")
    held = [(text, label) for doc_id, text, label, _ in docs if is_holdout(doc_id, args.holdout)]
    texts, labels = [t for t, _ in held], [label for _, label in held]
    out += ["### The same held-out documents at each `domain.min_confidence`", "",
            "| min_confidence | tagged | accuracy of tagged | " + " | ".join(f"{d} tagged" for d in model.domains) + " |",
            "|---:|---:|---:|" + "---:|" * len(model.domains)]
    for cut in CUTS:
        accuracy = accuracy_by_domain(model, texts, labels, cut)
        n = sum(a["docs"] for a in accuracy.values())
        tagged = sum(a["tagged"] * a["docs"] for a in accuracy.values())
        right = sum(a["tagged_accuracy"] * a["tagged"] * a["docs"] for a in accuracy.values())
        out.append(f"| {cut} | {tagged / n:.3f} | {right / max(tagged, 1):.3f} | "
                   + " | ".join(f"{accuracy[d]['tagged']:.3f}" for d in model.domains) + " |")
    out.append("")

    out += ["### Unseen sources: each origin scored by a model trained on all the others", "",
            "| origin | label | docs | accuracy | predicted | mean confidence | tagged at 0.6 |",
            "|---|---|---:|---:|---|---:|---:|"]
    for origin in sorted({source for *_, source in docs}):
        rest = [(t, label) for _, t, label, source in docs if source != origin]
        mine = [(t, label) for _, t, label, source in docs if source == origin]
        if len({label for _, label in rest}) < 2:
            continue
        predicted, confidence = DomainModel.fit([t for t, _ in rest], [label for _, label in rest]).predict(
            [t for t, _ in mine])
        label = mine[0][1]
        share = Counter(predicted)
        out.append(f"| {origin} | {label} | {len(mine)} | {share[label] / len(mine):.3f} | "
                   + ", ".join(f"{d} {n}" for d, n in share.most_common()) +
                   f" | {float(np.mean(confidence)):.3f} | {float(np.mean(confidence >= 0.6)):.3f} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
