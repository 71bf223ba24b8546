"""`dataprep clean-work`: remove a finished run's work directory once its outputs are verified.

The work directory (per-shard documents, signatures, line counts, LSH pairs) is ~2x the input
and only needed to resume or rerun steps. It goes only after the outputs check out against the
manifest: the manifest is there and made with the plan's settings, finalize finished, every
clean shard it lists is a readable parquet file and their rows add up to `kept`, removed.jsonl
and quarantine.jsonl hold `removed` and `quarantined` records, lengths.json counts `kept`.
`<out>/work-cleaned.json` then records the removal (written before it, so an interrupted removal
is finished by the next call); a later `dataprep run` on that output does nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from common.atomic import write_json
from common.config import ConfigError

MARKER = "work-cleaned.json"


class CleanWorkError(ConfigError):
    """The outputs do not match the manifest: the work directory is kept."""


def is_cleaned(out: Path) -> bool:
    return (out / MARKER).exists()


def _lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def verify_outputs(out: Path) -> dict[str, Any]:
    """The manifest's counts, checked against the output files; CleanWorkError names the first mismatch."""
    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        raise CleanWorkError(f"{manifest_path} missing: the run has not finished (run `dataprep run` to the end)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8")) if (out / "plan.json").is_file() else {}
    if plan.get("settings_hash") != manifest["settings_hash"]:
        raise CleanWorkError(f"{manifest_path}: settings_hash {manifest['settings_hash']} is not plan.json's "
                             f"{plan.get('settings_hash')}: the manifest is from another run")
    if (out / "work").exists() and not (out / "work" / "finalize" / "done.json").exists():
        raise CleanWorkError(f"{out}/work/finalize/done.json missing: finalize did not finish")
    outputs = manifest["outputs"]
    listed = {out / rel for rel in outputs["clean"]}
    present = set((out / "clean").glob("part-*.parquet"))
    if listed != present:
        odd = sorted(p.relative_to(out).as_posix() for p in listed ^ present)
        raise CleanWorkError(f"{manifest_path}: clean shards listed and present differ: {', '.join(odd[:5])}")
    rows = 0
    for path in sorted(listed):
        try:
            rows += pq.ParquetFile(path).metadata.num_rows
        except Exception as exc:      # a truncated or foreign file: name it, keep the work
            raise CleanWorkError(f"{path}: not a readable parquet file ({exc})") from None
    checks = [("rows in clean/", rows, manifest["kept"]),
              (outputs["removed"], _lines(out / outputs["removed"]), manifest["removed"]),
              (outputs["quarantine"], _lines(out / outputs["quarantine"]), manifest["quarantined"]),
              (f"{outputs['lengths']} 'after'",
               sum(json.loads((out / outputs["lengths"]).read_text(encoding="utf-8"))["after"]), manifest["kept"])]
    for what, found, expected in checks:
        if found != expected:
            raise CleanWorkError(f"{out}: {what} has {found}, the manifest says {expected}: work kept")
    if not (out / outputs["clusters"]).is_file():
        raise CleanWorkError(f"{out / outputs['clusters']} missing")
    return manifest


def clean_work(out: Path) -> int:
    """Verify, record, then remove <out>/work; returns the bytes freed."""
    out = Path(out)
    work = out / "work"
    if not work.exists() and is_cleaned(out):
        return 0
    manifest = verify_outputs(out)
    freed = sum(p.stat().st_size for p in work.rglob("*") if p.is_file()) if work.exists() else 0
    if not is_cleaned(out):
        write_json(out / MARKER, {"settings_hash": manifest["settings_hash"], "kept": manifest["kept"],
                                  "removed": manifest["removed"], "quarantined": manifest["quarantined"],
                                  "work_bytes": freed})
    if work.exists():
        doomed = out / f".work-removing-{os.getpid()}"
        os.replace(work, doomed)     # `work` is gone at once; a kill during rmtree leaves only this
        shutil.rmtree(doomed)
    for leftover in out.glob(".work-removing-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return freed


def cmd_clean_work(args: argparse.Namespace) -> int:
    out = Path(args.run_dir)
    freed = clean_work(out)
    print(f"removed {out / 'work'} ({freed / 1e6:.1f} MB) after verifying the outputs against manifest.json")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "clean-work", help="remove a finished run's work directory after verifying its outputs",
        description="Check a finished run's outputs against its manifest (clean shards' rows, removed and "
                    "quarantine records, lengths) and, if they match, delete <run_dir>/work. A later "
                    "`dataprep run` on the same output then does nothing. Config switch: "
                    "global_steps.clean_work: true does this at the end of finalize.")
    parser.add_argument("run_dir", help="the run's output directory (the `output` of its config)")
    parser.set_defaults(func=cmd_clean_work)
