"""Whole-run speed of `dataprep run` against an earlier commit, side by side on the same input.

Both trees run the bundled sample config (every stage on, one worker process) in alternation,
`--repeat` times each; the figure is CPU seconds of the child process (user + system), which a
shared machine distorts less than wall time. The earlier commit is checked out with
`git worktree` into a temporary directory and run with this checkout's Python environment.

    python benchmarks/bench_dataprep_speed.py [--baseline-ref bdfc613] [--repeat 3]
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def replicate(inputs: Path, copies: int, out: Path) -> Path:
    """`copies` copies of every jsonl.gz record (ids suffixed, a copy number appended to the text) so
    that start-up costs do not dominate; unparsable lines are kept as they are."""
    out.mkdir(parents=True)
    for path in sorted(inputs.glob("*.jsonl.gz")):
        lines = gzip.open(path, "rt", encoding="utf-8", errors="surrogateescape").read().splitlines()
        copied = []
        for k in range(copies):
            for line in lines:
                try:
                    record = json.loads(line)
                    record["id"] = f"{record.get('id')}-{k}"
                    record["text"] = f"{record['text']}\n{k}" if isinstance(record.get("text"), str) else record.get("text")
                    copied.append(json.dumps(record, ensure_ascii=False))
                except (ValueError, KeyError, TypeError, AttributeError):
                    copied.append(line)
        with gzip.open(out / path.name, "wt", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write("\n".join(copied) + "\n")
    return out


def run_once(tree: Path, out: Path, inputs: str) -> tuple[float, float, dict]:
    """(CPU seconds, wall seconds, manifest) of one `dataprep run` of `tree` on `inputs`."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dataprep.cli", "run", "--config", "configs/data/sample.yaml",
                    f"inputs=[{inputs}]", f"output={out}", "num_workers=1"],
                   cwd=tree, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--baseline-ref", default="bdfc613", help="the earlier commit (default: before this "
                        "session's cleaning work)")
    parser.add_argument("--inputs", default=str(ROOT / "data" / "sample" / "raw"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--copies", type=int, default=4, help="copies of the input, so start-up does not dominate")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_speed_"))
    inputs = str(replicate(Path(args.inputs), args.copies, work / "input"))
    baseline = work / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(baseline), args.baseline_ref], cwd=ROOT, check=True)
    try:
        times: dict[str, list[float]] = {"baseline": [], "current": []}
        walls: dict[str, list[float]] = {"baseline": [], "current": []}
        manifests: dict[str, dict] = {}
        for _ in range(args.repeat):
            for name, tree in (("baseline", baseline), ("current", ROOT)):
                cpu, wall, manifests[name] = run_once(tree, work / f"out-{name}", inputs)
                times[name].append(cpu)
                walls[name].append(wall)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=False)
        shutil.rmtree(work, ignore_errors=True)
    docs = manifests["current"]["docs_in"]
    print("## Whole `dataprep run` speed against an earlier commit\n")
    print(f"Command: `python benchmarks/bench_dataprep_speed.py --baseline-ref {args.baseline_ref} "
          f"--repeat {args.repeat} --copies {args.copies}`. Machine: {os.cpu_count()} cores, {platform.machine()}, "
          f"{platform.system()} {platform.release()}. Date: {datetime.date.today().isoformat()}.\n")
    print(f"Input: {args.copies} copies of {Path(args.inputs).relative_to(ROOT)} ({docs} documents), configs/data/sample.yaml, every stage on, 1 worker; "
          "CPU seconds of the run (user + system), median of the runs, alternating trees.\n")
    print("| tree | CPU s (median) | CPU s (all) | wall s (median) | docs/CPU s | kept | removed |")
    print("|---|---|---|---|---|---|---|")
    for name in ("baseline", "current"):
        med = statistics.median(times[name])
        m = manifests[name]
        label = f"{name} ({args.baseline_ref})" if name == "baseline" else "current"
        print(f"| {label} | {med:.2f} | {', '.join(f'{t:.2f}' for t in times[name])} | "
              f"{statistics.median(walls[name]):.2f} | {docs / med:.0f} | {m['kept']} | {m['removed']} |")
    ratio = statistics.median(times["baseline"]) / statistics.median(times["current"])
    print(f"\nSpeed of current relative to baseline: **{ratio:.2f}x** (goal: >= 0.5x).")


if __name__ == "__main__":
    main()
