"""DeepSpeed ZeRO-2 (our ZeroEngine) against plain PyTorch DDP: tokens/s on the same ranks, model and batch.

Both train the same Transformer on the same random token batches, fp32, AdamW, gradient clipping
and the same gradient accumulation, inside the same processes (DDP and DeepSpeed take turns, two
rounds each, so drift of a shared machine hits both). Reports the median step time of each and
the ratio DeepSpeed / DDP in tokens/s (goal >= 0.9).

    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --ranks 2 --dim 256 --layers 4 --seq 256
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import dist  # noqa: E402
from pipeline.config import ModelConfig, TrainConfig  # noqa: E402
from pipeline.engines.base import param_groups  # noqa: E402
from pipeline.engines.zero import ZeroEngine  # noqa: E402
from pipeline.model import Transformer  # noqa: E402


def make_cfg(args: argparse.Namespace) -> TrainConfig:
    cfg = TrainConfig()
    cfg.model = ModelConfig(vocab_size=args.vocab, dim=args.dim, n_layers=args.layers, n_heads=args.heads,
                            max_seq_len=args.seq)
    cfg.data.seq_len = args.seq
    cfg.parallel.zero_stage = args.zero
    cfg.parallel.micro_batch, cfg.parallel.global_batch = args.micro_batch, args.global_batch
    cfg.optim.warmup_steps = 0
    cfg.train.steps = 10**6
    return cfg


def batches(args: argparse.Namespace, rank: int, ranks: int, step: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(step * 1000 + rank)
    per_rank = args.global_batch // ranks
    data = torch.randint(0, args.vocab, (per_rank, args.seq + 1), generator=gen)
    return list(data.split(args.micro_batch))


def time_ddp(cfg: TrainConfig, args: argparse.Namespace, rank: int, ranks: int, steps: int) -> list[float]:
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(Transformer(cfg.model))
    optim = torch.optim.AdamW(param_groups(model.module, cfg.optim.weight_decay), lr=cfg.optim.lr,
                              betas=(cfg.optim.beta1, cfg.optim.beta2), eps=cfg.optim.eps, foreach=True)
    times = []
    for step in range(steps):
        micro = batches(args, rank, ranks, step)
        started = time.perf_counter()
        for i, batch in enumerate(micro):
            last = i == len(micro) - 1           # all-reduce once, on the last micro-batch
            with contextlib.nullcontext() if last else model.no_sync():
                loss = model(batch[:, :-1], batch[:, 1:]) / len(micro)
                loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        optim.step()
        optim.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    return times


def time_deepspeed(cfg: TrainConfig, args: argparse.Namespace, rank: int, ranks: int, steps: int) -> list[float]:
    torch.manual_seed(0)
    engine = ZeroEngine(cfg, Transformer(cfg.model))
    times = []
    for step in range(steps):
        micro = batches(args, rank, ranks, step)
        started = time.perf_counter()
        engine.train_step(micro)
        times.append(time.perf_counter() - started)
    return times


def worker(rank: int, ranks: int, port: int, args: argparse.Namespace, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(ranks), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(args.threads)
    dist.init()
    cfg = make_cfg(args)
    results: dict[str, list[float]] = {"ddp": [], "deepspeed": []}
    try:
        for _ in range(args.rounds):
            for name, fn in (("ddp", time_ddp), ("deepspeed", time_deepspeed)):
                dist.barrier()
                results[name] += fn(cfg, args, rank, ranks, args.warmup + args.steps)[args.warmup:]
    finally:
        dist.shutdown()
    if rank == 0:
        tokens = args.global_batch * args.seq
        summary = {name: {"median_step_ms": 1000 * statistics.median(t),
                          "tokens_per_s": tokens / statistics.median(t)} for name, t in results.items()}
        summary["ratio_deepspeed_over_ddp"] = summary["deepspeed"]["tokens_per_s"] / summary["ddp"]["tokens_per_s"]
        summary["setup"] = {**vars(args), "params": cfg.model.num_params(), "torch": torch.__version__}
        Path(out).write_text(json.dumps(summary, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--zero", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--global-batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="bench_train.json")
    args = parser.parse_args()
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    mp.spawn(worker, args=(args.ranks, dist.free_port(), args, args.out), nprocs=args.ranks, join=True)
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
