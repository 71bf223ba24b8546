"""CPU, wall and peak RSS of the dataprep global steps as the corpus grows (issue 20).

The inputs of the global steps are generated directly, not by the cleaning pipeline (1.6M
documents through every stage would take hours on 2 cores): per shard, the read step's
bucketed line counts (`--lines` distinct lines per document plus 2 site-chrome lines drawn from
a pool of documents / 20 keys, so every chrome key is repeated) and the filter step's outputs
(random 128-value MinHash signatures, 2% exact copies with the same hash and signature, 8%
near copies with 20% of the values changed, est. J ~0.8, 0.5% without shingles, an id column).

Each measured step runs in a child process (`--child`), which reports its CPU (user + system,
resource.getrusage), wall and peak RSS (VmHWM of /proc/self/status: ru_maxrss would include the
parent's high-water mark, which Linux carries over fork + exec):

  linecount  one bucket task (bucket 0) with linecount_buckets = N
  lsh        one (band, key range) unit (unit 0) with lsh_parts = N; the keys of its range are read
             from the filter step's lsh_keys.npy (written here by `runner.write_lsh_keys`)
  dedup      the merge: exact dedup in N passes, union-find over every unit's pairs, decisions,
             clusters.jsonl. Its pair files are written from the planted copies: a pair is in a
             band's file when the two signatures agree on that band's rows, in the key range of
             that band key (what `lsh` writes for them; checked against `step_lsh` at the
             smallest size). Random signatures collide in no band, so no other pair exists.

N grows with the corpus (N = documents / 100k), so the per-task RSS of linecount and lsh should
stay flat; the merge holds O(documents in pairs). A projection to 100M and 3B documents from
the per-document costs measured at the largest size closes the output.

At the `--datatrove` sizes, datatrove's MinHash global steps run beside ours on the same generated
signatures, written in the format of its stage 1 (per bucket and input file, the bucket's hashes
and the document's index, sorted; 32-bit hashes, our bands x rows as its buckets x hashes per
bucket, N workers per bucket as our N key ranges): one task of MinhashDedupBuckets (bucket 0,
first hash range) beside our `lsh` unit 0, and MinhashDedupCluster beside our merge. Its stage 1
hashes text and its stage 4 rewrites the documents: map steps, not global, so not run here. It
verifies no pair and drops exact copies through the same buckets; the removed counts of both
are printed as a check that both found the planted copies.

    python benchmarks/bench_global_steps.py [--sizes 25000 100000 400000 1600000] [--datatrove 25000 100000]
        [--base 100000] [--work /tmp/bench_global]
"""
from __future__ import annotations

import argparse
import importlib
import json
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.atomic import write_json  # noqa: E402
from common.config import from_dict  # noqa: E402
from bench_dataprep import datatrove_buckets, datatrove_cluster  # noqa: E402
from dataprep import runner  # noqa: E402
from dataprep.config import DataConfig  # noqa: E402
from dataprep.stages import minhash  # noqa: E402

SHARD_DOCS = 20_000
NUM_PERM = 128
DOCS_PER_TASK = 100_000


def data_config(out: Path, n_units: int) -> DataConfig:
    return from_dict(DataConfig, {"inputs": ["synthetic"], "output": str(out), "num_workers": 1,
                                  "global_steps": {"linecount_buckets": n_units, "lsh_parts": n_units}})


def generate(out: Path, docs: int, n_units: int, lines: int, datatrove: bool = False, seed: int = 0) -> dict:
    """The plan, the read step's line counts and the filter step's outputs of a synthetic corpus
    (with `datatrove`, its signatures also as datatrove's stage-1 output)."""
    rng = np.random.default_rng(seed)
    cfg = data_config(out, n_units)
    run = runner.Run(cfg)
    shards = [{"index": i, "path": "synthetic", "kind": "jsonl", "id_prefix": "s", "start": lo,
               "count": min(SHARD_DOCS, docs - lo)} for i, lo in enumerate(range(0, docs, SHARD_DOCS))]
    write_json(out / "plan.json", {"settings_hash": cfg.settings_hash(), "inputs": cfg.inputs, "shards": shards})
    pool = max(1, docs // 20)
    for shard in shards:
        lo, n = shard["start"], shard["count"]
        counts: Counter[str] = Counter()
        for d in range(lo, lo + n):
            counts.update(f"line {d:09d}-{j} of an ordinary paragraph, unique to its document" for j in range(lines))
        chrome = rng.integers(0, pool, size=(n, 2))
        counts.update(f"site chrome line {c:08d}: home | news | subscribe" for c in np.unique(chrome, axis=0).ravel())
        read_dir = run.shard_dir("read", shard["index"])
        runner._write_bucketed(read_dir / "linecounts.parquet", counts, n_units)
    sig = rng.integers(0, 2**32, size=(docs, NUM_PERM), dtype=np.uint32)
    hashes = rng.integers(0, 2**63, size=(docs, 2), dtype=np.uint64)
    valid = rng.random(docs) >= 0.005
    kind = rng.random(docs)
    copy = valid & (kind < 0.10)
    ordinary = np.flatnonzero(valid & ~copy)
    exact = np.flatnonzero(copy & (kind < 0.02))
    before = np.searchsorted(ordinary, exact)             # an exact copy repeats an earlier document
    exact, before = exact[before > 0], before[before > 0]
    exact_src = ordinary[(rng.random(len(exact)) * before).astype(np.int64)]
    near = np.flatnonzero(copy & (kind >= 0.02))
    near_src = rng.choice(ordinary, size=len(near), replace=False)   # one near copy per source: star pairs only
    changed = rng.random((len(near), NUM_PERM)) < 0.2
    sig[near] = np.where(changed, rng.integers(0, 2**32, size=changed.shape, dtype=np.uint32), sig[near_src])
    sig[exact], hashes[exact] = sig[exact_src], hashes[exact_src]
    sig[~valid] = 0
    for shard in shards:
        lo, n = shard["start"], shard["count"]
        d = run.shard_dir("filter", shard["index"])
        runner.write_npy(d / "sig.npy", sig[lo:lo + n])
        runner.write_npy(d / "hashes.npy", hashes[lo:lo + n])
        runner.write_npy(d / "valid.npy", valid[lo:lo + n])
        runner.write_lsh_keys(run, d, sig[lo:lo + n], valid[lo:lo + n])
        runner.write_parquet(d / "docs.parquet", [{"id": f"doc{i}"} for i in range(lo, lo + n)],
                             pa.schema([("id", pa.string())]))
    write_pairs(run, sig, near, near_src)
    if datatrove:
        write_datatrove_sigs(run, out / "datatrove" / "sigs", sig, valid)
    return {"exact": len(exact), "near": len(near)}


def datatrove_config(run: runner.Run):
    """datatrove's MinhashConfig for our LSH: bands x rows as buckets x hashes per bucket, 32-bit values."""
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.utils.hashing import HashConfig

    bands, rows = run.lsh_bands()
    return MinhashConfig(num_buckets=bands, hashes_per_bucket=rows, hash_config=HashConfig(precision=32))


def write_datatrove_sigs(run: runner.Run, out: Path, sig: np.ndarray, valid: np.ndarray) -> None:
    """What datatrove's MinhashDedupSignature writes for these signatures: bucket_BBB/RRRRR.minhash.sig
    per band and shard (rank), records of the band's values and the shard-local document index
    (uint32 little-endian), valid documents only, sorted by all fields as its stage 1 sorts them."""
    bands, rows = run.lsh_bands()
    dtype = np.dtype([(f"field{i + 1}", "<u4") for i in range(rows + 1)])
    for s in run.shards():
        lo = s.start
        local = np.flatnonzero(valid[lo:lo + s.count])
        for band in range(bands):
            records = np.zeros(len(local), dtype)
            for i in range(rows):
                records[f"field{i + 1}"] = sig[lo + local, band * rows + i]
            records[f"field{rows + 1}"] = local
            records.sort(order=dtype.names)
            path = out / f"bucket_{band:03d}" / f"{s.index:05d}.minhash.sig"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(records.tobytes())


def write_pairs(run: runner.Run, sig: np.ndarray, near: np.ndarray, src: np.ndarray) -> None:
    """What `lsh` writes for the planted pairs: per band, the pairs agreeing on its rows, in their key range."""
    bands, rows = run.lsh_bands()
    parts = run.cfg.global_steps.lsh_parts
    a, b = np.minimum(near, src), np.maximum(near, src)
    for band in range(bands):
        cols = slice(band * rows, (band + 1) * rows)
        same = (sig[a, cols] == sig[b, cols]).all(axis=1)
        keys = minhash.band_keys(sig[a[same], cols])
        part = minhash.key_part(keys, parts) if parts > 1 else np.zeros(len(keys), np.int64)
        for p in range(parts):
            mine = part == p
            pairs = np.stack([a[same][mine], b[same][mine]], axis=1)
            pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
            runner.write_npy(run.unit_dir("lsh", band * parts + p) / "pairs.npy", pairs)


def child(step: str, out: Path, n_units: int) -> None:
    """Run one step in this process and print its resource use as JSON."""
    run = runner.Run(data_config(out, n_units))
    wall = time.perf_counter()
    if step == "linecount":
        runner.step_linecount(run, 0)
    elif step == "lsh":
        runner.step_lsh(run, 0)
    elif step == "dedup":
        runner.step_dedup(run)
    elif step.startswith("dt-lsh"):          # dt-lsh: task 0 alone (measured); dt-lsh-rest: all the others
        tasks = run.lsh_bands()[0] * n_units
        first, count = (0, 1) if step == "dt-lsh" else (1, tasks - 1)
        datatrove_buckets(out / "datatrove", datatrove_config(run), tasks, local_tasks=count, local_rank_offset=first)
    elif step == "dt-dedup":
        datatrove_cluster(out / "datatrove", datatrove_config(run))
    elif step == "dt-none":                  # datatrove's imports alone
        for module in ("datatrove.executor", "datatrove.pipeline.dedup"):
            importlib.import_module(module)
    wall = time.perf_counter() - wall
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # peak RSS of this process's own memory: VmHWM. ru_maxrss is not used for it: Linux carries the
    # parent's high-water mark over fork + exec into it (the parent holds the generated arrays)
    hwm_kb = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
    print(json.dumps({"step": step, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                      "peak_rss_mb": hwm_kb / 1024}))


def measure(step: str, out: Path, n_units: int) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", step, str(out), str(n_units)],
                            capture_output=True, text=True, check=True, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_pairs(out: Path, n_units: int) -> None:
    """The synthetic pair file of unit 0 equals what `step_lsh` writes for it."""
    run = runner.Run(data_config(out, n_units))
    path = run.unit_dir("lsh", 0) / "pairs.npy"
    planted = np.load(path)
    runner.step_lsh(run, 0)
    real = np.load(path)
    real = real[np.lexsort((real[:, 1], real[:, 0]))]
    assert np.array_equal(planted, real), f"synthetic pairs differ from step_lsh: {len(planted)} vs {len(real)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 100_000, 400_000, 1_600_000])
    parser.add_argument("--datatrove", type=int, nargs="*", default=[25_000, 100_000],
                        help="sizes at which datatrove's global steps run beside ours (none: no datatrove)")
    parser.add_argument("--base", type=int, default=100_000, help="size the RSS ratios are taken against")
    parser.add_argument("--lines", type=int, default=6, help="distinct (unique) lines per document")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_global"))
    parser.add_argument("--child", nargs=3, metavar=("STEP", "OUT", "UNITS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), int(args.child[2]))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    baseline = measure("none", args.work, 1)
    dt_baseline = measure("dt-none", args.work, 1) if args.datatrove else None
    rows, side = [], []
    for docs in args.sizes:
        n_units = max(1, docs // DOCS_PER_TASK)
        out = args.work / f"docs-{docs}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        planted = generate(out, docs, n_units, args.lines, datatrove=docs in args.datatrove)
        print(f"generated {docs} docs, {n_units} units, {planted} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        if docs == min(args.sizes):
            check_pairs(out, n_units)
        run = runner.Run(data_config(out, n_units))
        bucket_rows = sum(pq.ParquetFile(run.shard_dir("read", s.index) / "linecounts.parquet").metadata.num_rows
                          for s in run.shards())
        for step in ("linecount", "lsh", "dedup"):
            m = measure(step, out, n_units)
            pairs = sum(len(np.load(run.unit_dir("lsh", u) / "pairs.npy", mmap_mode="r")) for u in run.units("lsh"))
            rows.append({**m, "docs": docs, "units": n_units, "keys": bucket_rows, "pairs": pairs})
            print(json.dumps(rows[-1]), file=sys.stderr)
        if docs in args.datatrove:
            side += datatrove_rows(out, n_units, docs, rows[-2:])
        shutil.rmtree(out, ignore_errors=True)
    report(rows, side, baseline, dt_baseline, args)


def datatrove_rows(out: Path, n_units: int, docs: int, ours: list[dict]) -> list[dict]:
    """datatrove's bucket task 0 and its cluster step beside our lsh unit 0 and merge, with the
    documents each removed (ours: exact + near copies; datatrove: its .remove entries, 4 B each)."""
    lsh = measure("dt-lsh", out, n_units)
    measure("dt-lsh-rest", out, n_units)               # the other buckets' pairs, which the cluster step reads
    merge = measure("dt-dedup", out, n_units)
    stages = json.loads((runner.Run(data_config(out, n_units)).step_dir("dedup") / "stats.json").read_text())["stages"]
    removed = sum(sum(st["removed"].values()) for st in stages.values())
    dt_removed = sum(p.stat().st_size for p in (out / "datatrove" / "remove").glob("*.remove")) // 4
    return [{"docs": docs, "ours": o, "datatrove": d,
             "removed": (removed, dt_removed) if o["step"] == "dedup" else None} for o, d in zip(ours, (lsh, merge))]


def report(rows: list[dict], side: list[dict], baseline: dict, dt_baseline: dict | None,
           args: argparse.Namespace) -> None:
    print(f"\nCommand: python benchmarks/bench_global_steps.py --sizes {' '.join(map(str, args.sizes))} "
          f"--datatrove {' '.join(map(str, args.datatrove))} --base {args.base} --lines {args.lines}\n"
          f"Machine: {platform.machine()}, {platform.processor() or 'cpu'} "
          f"({__import__('os').cpu_count()} cores, shared), Python {platform.python_version()}; "
          f"date {time.strftime('%Y-%m-%d')}.\nChild baseline (imports only): {baseline['peak_rss_mb']:.0f} MB RSS, "
          f"{baseline['cpu_s']:.2f} CPU s.\n")
    base_docs = args.base if args.base in args.sizes else min(args.sizes)
    print(f"| docs | N (buckets = LSH ranges) | step (one task) | wall s | CPU s | peak RSS MB | RSS / {base_docs:,} |")
    print("|---|---|---|---|---|---|---|")
    first = {r["step"]: r["peak_rss_mb"] for r in rows if r["docs"] == base_docs}
    for r in rows:
        print(f"| {r['docs']:,} | {r['units']} | {r['step']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
              f"{r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] / first[r['step']]:.2f}x |")
    if side:
        print(f"\ndatatrove 0.10.1 beside ours, same signatures (one task each; ratio = datatrove / ours; "
              f"datatrove child baseline, imports only: {dt_baseline['peak_rss_mb']:.0f} MB RSS, "
              f"{dt_baseline['cpu_s']:.2f} CPU s):\n")
        print("| docs | ours step | datatrove step | ours wall s / CPU s / RSS MB | datatrove wall s / CPU s / RSS MB "
              "| CPU ratio | RSS ratio | removed ours / datatrove |")
        print("|---|---|---|---|---|---|---|---|")
        names = {"lsh": "MinhashDedupBuckets", "dedup": "MinhashDedupCluster"}
        for r in side:
            o, d = r["ours"], r["datatrove"]
            print(f"| {r['docs']:,} | {o['step']} | {names[o['step']]} | {o['wall_s']:.2f} / {o['cpu_s']:.2f} / "
                  f"{o['peak_rss_mb']:.0f} | {d['wall_s']:.2f} / {d['cpu_s']:.2f} / {d['peak_rss_mb']:.0f} | "
                  f"{d['cpu_s'] / o['cpu_s']:.1f}x | {d['peak_rss_mb'] / o['peak_rss_mb']:.2f}x | "
                  f"{'%d / %d' % r['removed'] if r['removed'] else '-'} |")
    big = {r["step"]: r for r in rows if r["docs"] == rows[-1]["docs"]}
    # per-task work: linecount per key of its bucket (keys / N), lsh per document of its range
    # (documents / N), merge per document
    bands, _ = runner.Run(data_config(args.work, 1)).lsh_bands()
    lc, lsh, dd = big["linecount"], big["lsh"], big["dedup"]
    n, units = lc["docs"], lc["units"]
    lc_cpu_per_key = lc["cpu_s"] / (lc["keys"] / units)
    lsh_cpu_per_doc = lsh["cpu_s"] / (n / units)
    dd_cpu_per_doc = dd["cpu_s"] / n
    small = next(r for r in rows if r["step"] == "dedup" and r["docs"] == base_docs)   # merge RSS: slope from the base
    dd_mb_per_doc = (dd["peak_rss_mb"] - small["peak_rss_mb"]) / max(1, n - small["docs"])
    keys_per_doc = lc["keys"] / n
    print(f"\nProjection from the {n:,}-document row (per-task N = documents / {DOCS_PER_TASK:,}, so per-task "
          f"RSS stays at the measured {lc['peak_rss_mb']:.0f} / {lsh['peak_rss_mb']:.0f} MB; {keys_per_doc:.1f} "
          f"line-key rows per document; {bands} bands; merge RSS = its RSS at {n:,} + "
          f"{dd_mb_per_doc * 1e6:.0f} B x further documents (slope from {base_docs:,}) at this "
          f"{100 * big['dedup']['pairs'] / max(1, n * bands):.1f}% "
          f"pair rate; CPU hours summed over tasks):\n")
    print("| docs | linecount tasks x CPU h | lsh units x CPU h | lsh CPU h total | merge CPU h | merge RSS GB |")
    print("|---|---|---|---|---|---|")
    for docs in (100_000_000, 3_000_000_000):
        n_units = docs // DOCS_PER_TASK
        lc_h = lc_cpu_per_key * keys_per_doc * docs / n_units / 3600
        lsh_h = lsh_cpu_per_doc * docs / n_units / 3600
        print(f"| {docs:,} | {n_units:,} x {lc_h:.4f} | {bands * n_units:,} x {lsh_h:.4f} | "
              f"{bands * n_units * lsh_h:,.1f} | {dd_cpu_per_doc * docs / 3600:.1f} | "
              f"{(dd['peak_rss_mb'] + dd_mb_per_doc * (docs - n)) / 1024:.1f} |")


if __name__ == "__main__":
    main()
