"""Training speed on CPU ranks, side by side in one run: plain PyTorch DDP, our ZeroEngine (DeepSpeed
ZeRO), the same with `train.compile`, and with document masking (`data.document_mask`).

All variants train the same Transformer on the same random token batches (one end-of-document token
at a seeded place in every row, which only the masked variant acts on), fp32, AdamW, gradient
clipping and the same gradient accumulation, inside the same processes. One round runs every
variant once (warm-up steps, then timed steps; each variant builds its model and engine afresh);
rounds alternate the order (forward, then reversed) so drift of a shared machine hits all alike.
Per round it takes each variant's median step time; it reports per-round ratios and their median:
ZeRO / DDP, compiled / eager and the masked run's cost.

    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --ranks 2 --model configs/model/125m.yaml --seq 256

`--optimizer` instead times one AdamW step over the model's parameters in this process, torch's
multi-tensor (`foreach`) form against the fused one that `pipeline.ds_config.make_optimizer` uses.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.config import load_config  # noqa: E402
from pipeline import dist  # noqa: E402
from pipeline.config import ModelConfig, TrainConfig  # noqa: E402
from pipeline.ds_config import make_optimizer  # noqa: E402
from pipeline.engines.base import param_groups  # noqa: E402
from pipeline.engines.zero import ZeroEngine  # noqa: E402
from pipeline.model import Transformer  # noqa: E402

EOS = 2
VARIANTS = ("ddp", "zero", "zero_compile", "zero_mask")


def make_cfg(args: argparse.Namespace) -> TrainConfig:
    cfg = TrainConfig()
    if args.model:
        cfg.model = load_config(ModelConfig, args.model)
    else:
        cfg.model = ModelConfig(vocab_size=args.vocab, dim=args.dim, n_layers=args.layers, n_heads=args.heads,
                                max_seq_len=args.seq)
    cfg.data.seq_len = args.seq
    cfg.parallel.zero_stage = args.zero
    cfg.parallel.micro_batch, cfg.parallel.global_batch = args.micro_batch, args.global_batch
    cfg.optim.warmup_steps = 0
    cfg.train.steps = 10**6
    cfg.validate()
    return cfg


def batches(cfg: TrainConfig, rank: int, ranks: int, step: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(step * 1000 + rank)
    per_rank = cfg.parallel.global_batch // ranks
    data = torch.randint(3, cfg.model.vocab_size, (per_rank, cfg.data.seq_len + 1), generator=gen)
    boundary = torch.randint(1, cfg.data.seq_len, (per_rank, 1), generator=gen)
    return list(data.scatter(1, boundary, EOS).split(cfg.parallel.micro_batch))


def time_steps(step: Callable[[int], None], steps: int, profiler: Any = None) -> list[float]:
    """Seconds of each of `steps` calls of step(index); the last one inside `profiler` when given."""
    times = []
    for index in range(steps):
        with profiler if profiler is not None and index == steps - 1 else contextlib.nullcontext():
            started = time.perf_counter()
            step(index)
            times.append(time.perf_counter() - started)
    return times


def time_ddp(cfg: TrainConfig, rank: int, ranks: int, steps: int, profiler: Any = None) -> list[float]:
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(Transformer(cfg.model))
    optim = make_optimizer(cfg)(param_groups(model.module, cfg.optim.weight_decay))    # the same AdamW as ours

    def step(index: int) -> None:
        micro = batches(cfg, rank, ranks, index)
        for i, batch in enumerate(micro):
            last = i == len(micro) - 1           # all-reduce once, on the last micro-batch
            with contextlib.nullcontext() if last else model.no_sync():
                loss = model(batch[:, :-1], batch[:, 1:]) / len(micro)
                loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        optim.step()
        optim.zero_grad(set_to_none=True)
    return time_steps(step, steps, profiler)


def time_zero(cfg: TrainConfig, rank: int, ranks: int, steps: int, compile_blocks: bool = False,
              document_mask: bool = False, profiler: Any = None) -> list[float]:
    torch.manual_seed(0)
    cfg.train.compile = compile_blocks
    engine = ZeroEngine(cfg, Transformer(cfg.model), eos_id=EOS if document_mask else None)
    times = time_steps(lambda index: engine.train_step(batches(cfg, rank, ranks, index)), steps, profiler)
    engine.ds.destroy()
    return times


def run_variant(name: str, cfg: TrainConfig, rank: int, ranks: int, steps: int, profiler: Any = None) -> list[float]:
    if name == "ddp":
        return time_ddp(cfg, rank, ranks, steps, profiler)
    return time_zero(cfg, rank, ranks, steps, compile_blocks=name == "zero_compile",
                     document_mask=name == "zero_mask", profiler=profiler)


def profile_summary(profiler: Any, step_s: float, count: int = 10) -> dict[str, object]:
    """The profiled step: its `count` largest operators by their own CPU time, and the step's wall
    time spent outside every operator (on 2 ranks mostly waiting for the other's gradients)."""
    events = sorted(profiler.key_averages(), key=lambda e: -e.self_cpu_time_total)
    in_ops_ms = sum(e.self_cpu_time_total for e in events) / 1000
    return {"step_ms": round(1000 * step_s, 1), "outside_operators_ms": round(1000 * step_s - in_ops_ms, 1),
            "top_ops_ms": {e.key: round(e.self_cpu_time_total / 1000, 1) for e in events[:count]}}


def speedup(rounds: list[dict[str, float]], variant: str, baseline: str) -> dict[str, object]:
    """variant's tokens/s over baseline's (= baseline's step time over variant's) per round, with
    median and range."""
    per_round = [r[baseline] / r[variant] for r in rounds]
    return {"per_round": [round(x, 3) for x in per_round], "median": statistics.median(per_round),
            "min": min(per_round), "max": max(per_round)}


def summarize(rounds: list[dict[str, float]], tokens_per_step: int) -> dict[str, object]:
    """Median step time and tokens/s of every variant, and the per-round ratios the issue asks for."""
    names = list(rounds[0])
    summary: dict[str, object] = {
        name: {"median_step_ms": 1000 * statistics.median(r[name] for r in rounds),
               "tokens_per_s": tokens_per_step / statistics.median(r[name] for r in rounds)} for name in names}
    for key, variant, baseline in (("zero_over_ddp", "zero", "ddp"), ("compile_over_eager", "zero_compile", "zero"),
                                   ("mask_over_unmasked", "zero_mask", "zero")):
        if variant in names and baseline in names:
            summary[key] = speedup(rounds, variant, baseline)
    summary["rounds_ms"] = [{k: round(1000 * v, 1) for k, v in r.items()} for r in rounds]
    return summary


def time_optimizers(cfg: TrainConfig, repeats: int) -> dict[str, object]:
    """Median seconds of one AdamW step over every parameter (gradients set), foreach vs fused."""
    torch.manual_seed(0)
    model = Transformer(cfg.model)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    result: dict[str, object] = {"params": cfg.model.num_params()}
    for form in ("foreach", "fused"):
        optim = torch.optim.AdamW(param_groups(model, cfg.optim.weight_decay), lr=cfg.optim.lr, **{form: True})
        optim.step()                          # allocates the moments
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            optim.step()
            times.append(time.perf_counter() - started)
        result[f"{form}_step_s"] = statistics.median(times)
    result["fused_speedup"] = result["foreach_step_s"] / result["fused_step_s"]
    return result


def run_setup(args: argparse.Namespace) -> dict[str, object]:
    """The command's arguments with the machine, torch version, date and load it ran under."""
    return {**vars(args), "torch": torch.__version__,
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "date": datetime.now(timezone.utc).isoformat(timespec="minutes"), "load_average": os.getloadavg()}


def worker(rank: int, ranks: int, port: int, args: argparse.Namespace, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(ranks), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(args.threads)
    dist.init()
    cfg = make_cfg(args)
    variants = args.variants.split(",")
    rounds: list[dict[str, float]] = []
    started = time.perf_counter()
    try:
        profiles = {}
        for index in range(args.rounds):
            medians = {}
            for name in variants if index % 2 == 0 else variants[::-1]:
                dist.barrier()
                profiler = torch.profiler.profile() if args.profile and index == args.rounds - 1 else None
                times = run_variant(name, cfg, rank, ranks, args.warmup + args.steps, profiler)[args.warmup:]
                medians[name] = statistics.median(times)
                if profiler is not None:
                    profiles[name] = profile_summary(profiler, times[-1])
                gc.collect()
            rounds.append(medians)
            if rank == 0:
                print(f"round {index + 1}: " + ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in medians.items()),
                      flush=True)
    finally:
        dist.shutdown()
    if rank == 0:
        summary = summarize(rounds, cfg.parallel.global_batch * cfg.data.seq_len)
        if profiles:
            summary["profile_rank0_last_round"] = profiles
        summary["setup"] = {**run_setup(args), "params": cfg.model.num_params(), "wall_s": time.perf_counter() - started}
        Path(out).write_text(json.dumps(summary, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--zero", type=int, default=2)
    parser.add_argument("--model", help="model YAML (e.g. configs/model/125m.yaml); else the sizes below")
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--global-batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (each runs every variant once)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--out", default="bench_train.json")
    parser.add_argument("--profile", action="store_true",
                        help="profile each variant's last step of the last round on rank 0: its largest operators")
    parser.add_argument("--optimizer", action="store_true",
                        help="time one AdamW step, foreach vs fused, in this process (--threads threads)")
    parser.add_argument("--summarize", metavar="JSON",
                        help="recompute the summary of an earlier run's JSON (its rounds_ms) and rewrite it")
    args = parser.parse_args()
    if args.summarize:
        earlier = json.loads(Path(args.summarize).read_text())
        setup = earlier["setup"]
        rounds = [{k: v / 1000 for k, v in r.items()} for r in earlier["rounds_ms"]]
        summary = {**summarize(rounds, setup["global_batch"] * setup["seq"]), "setup": setup}
        Path(args.summarize).write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary, indent=2))
        return
    if args.optimizer:
        torch.set_num_threads(args.threads)
        summary = {**time_optimizers(make_cfg(args), args.steps), "setup": run_setup(args)}
        Path(args.out).write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary, indent=2))
        return
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    mp.spawn(worker, args=(args.ranks, dist.free_port(), args, args.out), nprocs=args.ranks, join=True)
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
