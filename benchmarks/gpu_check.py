"""The GPU check (run by benchmarks/gpu_check.sh): a ~1B model on one GPU in bf16 under ZeRO-1,
through our engine, data loader and model, as a training run uses them.

Runs, each in a fresh process (clean memory statistics and compile caches):
    bf16            eager, document masking on (the defaults), micro-batch 4
    bf16_compile    the same with train.compile=true
    bf16_nomask     document masking off (its cost: FlexAttention vs plain causal flash)
    bf16_liger      train.liger_kernels=true, only where liger-kernel is installed
    fp32            20 steps in fp32 (micro-batch 2, same global batch): bf16-vs-fp32 loss parity
and prints tokens/s (median after warm-up), MFU, peak memory beside `pretrain plan`'s estimate for
the same layout, and the largest relative loss difference of bf16 against fp32 over 20 steps.
The data is a synthetic packed corpus (Markov documents, 50-3000 tokens, an eos after each) so the
check needs nothing but this repository. JSON of everything lands in --out.

--cpu-smoke runs the same code on CPU with a tiny model in about a minute (compile included), so
the script is known to work before a GPU is lent (tests/test_gpu_check.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EOS = 2
PARITY_STEPS = 20
PARITY_LIMIT = 0.02        # bf16 losses within 2% of fp32 over the first 20 steps
PLAN_LIMIT = 0.15          # planner within 15% of the measured peak (the target)


@dataclasses.dataclass(frozen=True)
class Scale:
    """Model, batch and step counts of one check."""
    model: dict
    seq_len: int
    micro_batch: int
    global_batch: int
    steps: int
    warmup: int          # steps left out of the speed median (compilation, allocator warm-up)


GPU = Scale(model={"vocab_size": 64000, "dim": 2048, "n_layers": 16, "n_heads": 16, "n_kv_heads": 16,
                   "max_seq_len": 2048},       # 1.07B parameters with untied 64k embeddings
            seq_len=2048, micro_batch=4, global_batch=8, steps=30, warmup=8)
CPU_SMOKE = Scale(model={"vocab_size": 512, "dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2,
                         "max_seq_len": 64},
                  seq_len=64, micro_batch=2, global_batch=4, steps=PARITY_STEPS, warmup=3)


def write_corpus(directory: Path, vocab: int, tokens: int) -> Path:
    """Documents from a sparse first-order Markov chain (learnable), until `tokens` are written."""
    import numpy as np

    from dataprep.packed import ShardWriter, dtype_for_vocab, write_manifest

    if (directory / "manifest.json").is_file():
        return directory
    rng = np.random.default_rng(0)
    table = rng.integers(3, vocab, size=(vocab, 4))
    dtype = dtype_for_vocab(vocab)
    shards = []
    for split, budget in (("train", tokens), ("validation", tokens // 20)):
        writer = ShardWriter(directory, split, "part-00000", dtype)
        written = 0
        while written < budget:
            length = int(rng.integers(50, 3000))
            choices = rng.integers(0, 4, size=length)
            doc = np.empty(length, dtype=np.int64)
            doc[0] = rng.integers(3, vocab)
            for i in range(1, length):
                doc[i] = table[doc[i - 1], choices[i]]
            writer.add(doc)
            written += length + 1
        shards.append(writer.finish())
    write_manifest(directory, shards, dtype=dtype, vocab_size=vocab, eos_id=EOS, tokenizer_sha256="0" * 64,
                   validation_ratio=0.05)
    return directory


def run_one(spec: dict) -> dict:
    """One configuration in this process: train `steps` steps, time each, record losses and memory."""
    import torch

    from common.config import load_config
    from dataprep.packed import PackedCorpus, TrainingSamples
    from pipeline import dist
    from pipeline.config import ModelConfig, TrainConfig
    from pipeline.data import Prefetcher, TrainBatches
    from pipeline.engines.factory import build_engine
    from pipeline.hardware import peak_flops
    from pipeline.metrics import device_name, memory_mb
    from pipeline.model import Transformer

    cfg = load_config(TrainConfig, REPO / "configs/train/tiny_cpu.yaml", spec["overrides"])
    cfg.model = load_config(ModelConfig, data=spec["model"])
    cfg.validate()
    dist.init()
    try:
        torch.manual_seed(cfg.run.seed)
        model = Transformer(cfg.model)
        engine = build_engine(cfg, model, EOS if cfg.data.document_mask else None)
        samples = TrainingSamples(PackedCorpus(cfg.data.packed_dir), cfg.data.seq_len)
        batches = TrainBatches(samples, cfg.parallel.global_batch, cfg.parallel.micro_batch, 0, 1, cfg.data.data_seed)
        loader = Prefetcher(batches, 0, cfg.train.steps, cfg.data.prefetch, torch.cuda.is_available())
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        losses, seconds = [], []
        for step in range(cfg.train.steps):
            started = time.perf_counter()
            losses.append(engine.train_step(loader.get(step)))
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - started)
        loader.close()
    finally:
        dist.shutdown()
    timed = seconds[spec["warmup"]:]
    tokens_per_s = cfg.parallel.global_batch * cfg.data.seq_len / statistics.median(timed)
    peak = peak_flops(device_name())
    return {"name": spec["name"], "losses": losses, "step_seconds": seconds, "tokens_per_s": tokens_per_s,
            "mfu": tokens_per_s * cfg.model.flops_per_token(cfg.data.seq_len) / peak if peak else None,
            "peak_memory_mib": memory_mb(),
            "peak_reserved_mib": torch.cuda.max_memory_reserved() / 2**20 if torch.cuda.is_available() else None,
            "device": device_name() or "cpu", "params": cfg.model.num_params(), "overrides": spec["overrides"]}


def plan_estimate(scale: Scale, gpu: str | None) -> dict | None:
    """`pretrain plan`'s per-GPU memory for the bf16 run's layout (ZeRO-1, one GPU, no checkpointing)."""
    from common.config import load_config
    from pipeline import plan
    from pipeline.config import ModelConfig

    if gpu is None:
        return None
    est = plan.estimate(load_config(ModelConfig, data=scale.model),
                        plan.Layout(zero=1, micro_batch=scale.micro_batch), plan.Cluster(1, gpu=gpu), scale.seq_len)
    # torch's max_memory_allocated sees neither the CUDA context nor fragmentation: compare without them
    allocated = est.total - est.gpu["overhead"] - est.gpu["fragmentation"]
    return {"gpu": gpu, "total_gib": est.total / 2**30, "allocated_gib": allocated / 2**30,
            "pieces_gib": {k: v / 2**30 for k, v in est.gpu.items()}}


def gpu_key() -> str | None:
    """The planner's GPU type for this device (its hardware table), None on CPU or an unknown GPU."""
    from pipeline.hardware import GPUS
    from pipeline.metrics import device_name

    name = device_name()
    return next((key for key, gpu in GPUS.items() if name and all(p in name for p in gpu.name_parts)), None)


def specs(scale: Scale, packed: Path, out: Path, cpu: bool) -> list[dict]:
    base = [f"data.packed_dir={packed}", f"data.seq_len={scale.seq_len}", "parallel.zero_stage=1",
            f"parallel.micro_batch={scale.micro_batch}", f"parallel.global_batch={scale.global_batch}",
            f"train.steps={scale.steps}", "optim.warmup_steps=10", "optim.lr=3e-4", "optim.min_lr=3e-5",
            f"run.dir={out / 'run'}", "wandb.mode=disabled"]
    runs = [("bf16", ["train.precision=bf16"]),
            ("bf16_compile", ["train.precision=bf16", "train.compile=true"]),
            ("bf16_nomask", ["train.precision=bf16", "data.document_mask=false"])]
    if not cpu and importlib.util.find_spec("liger_kernel") is not None:
        runs.append(("bf16_liger", ["train.precision=bf16", "train.liger_kernels=true"]))
    fp32_micro = max(1, scale.micro_batch // 2)
    runs.append(("fp32", ["train.precision=fp32", f"parallel.micro_batch={fp32_micro}",
                          f"train.steps={PARITY_STEPS}"]))
    return [{"name": name, "model": scale.model, "warmup": min(scale.warmup, PARITY_STEPS - 1),
             "overrides": base + extra} for name, extra in runs]


def launch(spec: dict, out: Path, cpu: bool) -> dict:
    """Run one spec in a fresh process (single rank), with a wall-clock note."""
    path = out / f"{spec['name']}.json"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    if cpu:
        env.update(DS_ACCELERATOR="cpu", CUDA_VISIBLE_DEVICES="")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec), "--result", str(path)],
                          cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"run {spec['name']} failed (exit {done.returncode}):\n{done.stdout[-3000:]}"
                         f"\n{done.stderr[-5000:]}")
    result = json.loads(path.read_text())
    result["wall_s"] = time.perf_counter() - started
    return result


def report(results: dict[str, dict], plan: dict | None) -> tuple[list[str], bool]:
    """Summary lines and whether the checks that have a target passed."""
    lines = [f"device: {results['bf16']['device']}; model {results['bf16']['params'] / 1e9:.2f}B parameters"]
    lines.append(f"{'run':<14}{'tokens/s':>12}{'MFU':>8}{'peak MiB':>11}{'wall s':>8}")
    for name, r in results.items():
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        lines.append(f"{name:<14}{r['tokens_per_s']:>12,.0f}{mfu:>8}{r['peak_memory_mib']:>11,.0f}{r['wall_s']:>8.0f}")
    base = results["bf16"]
    lines.append(f"compile speed-up: {results['bf16_compile']['tokens_per_s'] / base['tokens_per_s']:.2f}x; "
                 f"document masking costs {100 * (1 - base['tokens_per_s'] / results['bf16_nomask']['tokens_per_s']):.1f}%"
                 f" of tokens/s")
    fp32 = results["fp32"]["losses"]
    bf16 = base["losses"][:len(fp32)]
    parity = max(abs(a - b) / abs(b) for a, b in zip(bf16, fp32))
    ok = parity <= PARITY_LIMIT
    lines.append(f"bf16 vs fp32 over {len(fp32)} steps: largest relative loss difference {parity:.4f} "
                 f"(limit {PARITY_LIMIT}) -> {'ok' if ok else 'FAILED'}; loss {fp32[0]:.3f} -> {fp32[-1]:.3f} (fp32)")
    if plan is not None:
        measured = base["peak_memory_mib"] / 1024
        error = plan["allocated_gib"] / measured - 1
        plan_ok = abs(error) <= PLAN_LIMIT
        ok = ok and plan_ok
        lines.append(f"peak memory (bf16 run): measured {measured:.2f} GiB allocated "
                     f"({base['peak_reserved_mib'] / 1024:.2f} GiB reserved); pretrain plan {plan['allocated_gib']:.2f} "
                     f"GiB without CUDA overhead/fragmentation ({error:+.1%}, limit ±{PLAN_LIMIT:.0%}) "
                     f"-> {'ok' if plan_ok else 'FAILED'}; plan total {plan['total_gib']:.2f} GiB")
    else:
        lines.append("peak memory vs pretrain plan: n/a (CPU or a GPU outside pipeline/hardware.py)")
    return lines, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny model on CPU: checks the script itself")
    parser.add_argument("--out", default="runs/gpu_check", help="corpus, per-run JSON and summary.json go here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        Path(args.result).write_text(json.dumps(run_one(json.loads(args.worker))))
        return 0
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    scale = CPU_SMOKE if args.cpu_smoke else GPU
    started = time.perf_counter()
    packed = write_corpus(out / "packed", scale.model["vocab_size"],
                          2 * scale.steps * scale.global_batch * (scale.seq_len + 1))
    results = {}
    for spec in specs(scale, packed, out, args.cpu_smoke):
        results[spec["name"]] = launch(spec, out, args.cpu_smoke)
        print(f"{spec['name']}: {results[spec['name']]['tokens_per_s']:,.0f} tokens/s "
              f"({results[spec['name']]['wall_s']:.0f} s)", flush=True)
    plan = None if args.cpu_smoke else plan_estimate(scale, gpu_key())
    lines, ok = report(results, plan)
    lines.append(f"total {time.perf_counter() - started:.0f} s")
    print("\n".join(lines))
    (out / "summary.json").write_text(json.dumps({"scale": dataclasses.asdict(scale), "results": results,
                                                  "plan": plan, "summary": lines, "ok": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
