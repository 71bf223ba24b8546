"""One rank of a parallel-layout run for tests/test_parallel_train.py (started once per rank).

    python tests/parallel_worker.py OUT.pt [--init model.safetensors] key=value ...

Trains the tiny model through `pipeline.engines.factory.build_engine` on seeded random tokens (the same
global batch at every step whatever the layout; each data-parallel replica takes its slice),
then consolidates the weights and Adam's state. Rank 0 writes {"losses", "grad_norms", "weights",
"adam" (full moments), "adam_step", group ranks, "held": what rank 0 holds of the model (see
`held_numels`)} to OUT.pt and both in the checkpoint format (model.safetensors + model_config.yaml,
optimizer.safetensors) beside it. --init starts from such files (Adam's state too when beside them).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common.config import load_config  # noqa: E402
from pipeline import dist  # noqa: E402
from pipeline.checkpoint import (CONSOLIDATED, OPTIMIZER, adam_state_beside, write_adam_state,  # noqa: E402
                                 write_consolidated)
from pipeline.config import TrainConfig  # noqa: E402
from pipeline.engines.factory import build_engine  # noqa: E402
from pipeline.model import Transformer  # noqa: E402
from pipeline.parallel.consolidate import full_state_dict, load_into_model  # noqa: E402
from pipeline.parallel.layout import ProcessGroups, check_layout  # noqa: E402

EOS = 2


def global_batch(step: int, cfg: TrainConfig) -> torch.Tensor:
    """Arithmetic token sequences from a seeded start and stride: learnable, so the loss falls fast
    and weight differences between layouts show in the loss curve. Each row has an end-of-document
    token at a seeded place, so document masking (on by default) splits every sample in two."""
    generator = torch.Generator().manual_seed(1000 + step)
    shape = (cfg.parallel.global_batch, 1)
    start = torch.randint(0, cfg.model.vocab_size, shape, generator=generator)
    stride = torch.randint(1, 4, shape, generator=generator)
    tokens = (start + stride * torch.arange(cfg.data.seq_len + 1)) % cfg.model.vocab_size
    boundary = torch.randint(2, cfg.data.seq_len - 1, shape, generator=generator)
    return tokens.scatter(1, boundary, EOS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--init", help="consolidated model.safetensors to start from")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args()
    cfg = load_config(TrainConfig, REPO / "configs/train/tiny_cpu.yaml", args.overrides)
    torch.set_num_threads(1)
    dist.init()
    topology = check_layout(cfg.parallel, cfg.model, dist.world_size())
    torch.manual_seed(cfg.run.seed)
    model = Transformer(cfg.model)
    if args.init:
        load_into_model(model, args.init)
    engine = build_engine(cfg, model, EOS if cfg.data.document_mask else None)
    if args.init and adam_state_beside(args.init):
        engine.load_adam_state(adam_state_beside(args.init))
    groups = engine.groups or ProcessGroups(topology)     # pure data parallelism has none of ours
    per_rank = cfg.parallel.global_batch // engine.dp_size
    held = probe_gradients(engine)
    losses, grad_norms = [], []
    for index in range(cfg.train.steps):
        mine = global_batch(index, cfg)[engine.dp_rank * per_rank:(engine.dp_rank + 1) * per_rank]
        losses.append(engine.train_step(list(mine.split(cfg.parallel.micro_batch))))
        grad_norms.append(engine.grad_norm())
    held.update(held_numels(engine))
    weights = full_state_dict(engine.ds.module, cfg.model, groups)
    adam = engine.full_adam_state()
    autotp = cfg.parallel.tp > 1 and cfg.parallel.pp == 1
    deepspeed_groups = deepspeed_tensor_group_ranks() if autotp else None
    if dist.rank() == 0:
        write_consolidated(Path(args.out).parent / CONSOLIDATED, weights, cfg.model, "test")
        write_adam_state(Path(args.out).parent / OPTIMIZER, *adam, "test")
        torch.save({"losses": losses, "grad_norms": grad_norms, "weights": weights,
                    "adam": adam[0], "adam_step": adam[1],
                    "our_tensor_ranks": groups.ranks("tensor"), "deepspeed_tensor_ranks": deepspeed_groups,
                    "held": held},
                   args.out)
    dist.shutdown()


def probe_gradients(engine) -> dict[str, int]:
    """Wrap `ds.step` to count the elements of whole `param.grad`s this rank holds after the first
    micro-batch's backward, mid-accumulation: ZeRO 0/1 accumulate whole gradients, ZeRO-2 and 3 hand
    them to their partitioned buffers during the backward."""
    held: dict[str, int] = {}
    step = engine.ds.step

    def counting_step(*args, **kwargs):
        if "grad_numel" not in held:
            held["grad_numel"] = sum(p.grad.numel() for p in engine.ds.module.parameters() if p.grad is not None)
        return step(*args, **kwargs)

    engine.ds.step = counting_step
    return held


def held_numels(engine) -> dict[str, int]:
    """Elements rank 0 holds: Adam's first moment (the optimizer-state partition), and parameters:
    the full count (ZeRO-3's ds_numel) and the local one (ZeRO-3's ds_tensor partition)."""
    state = engine.ds.basic_optimizer.state.values()
    params = list(engine.ds.module.parameters())
    return {"adam_state_numel": sum(s["exp_avg"].numel() for s in state if "exp_avg" in s),
            "param_numel": sum(getattr(p, "ds_numel", p.numel()) for p in params),
            "param_local_numel": sum(p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel() for p in params)}


def deepspeed_tensor_group_ranks() -> list[int]:
    """The tensor group AutoTP built itself, to check that our rank layout agrees with it."""
    from deepspeed.utils import groups

    return torch.distributed.get_process_group_ranks(groups.get_tensor_model_parallel_group())


if __name__ == "__main__":
    main()
