"""The training step behind a small interface, so the loop in `pipeline/train.py` is parallelism-agnostic.

Interface (`TrainStep`) every engine implements — the parallelism code (`pipeline/parallel/`)
provides its own for tp > 1 / pp > 1 and `build_engine` dispatches to it:

    train_step(micro_batches) -> float
        One optimizer step over this rank's micro-batches (list of (micro_batch, seq_len + 1) int64
        tensors; inputs [:, :-1], labels [:, 1:]). Returns the mean loss over the GLOBAL batch,
        the same value on every rank. A pipeline engine can feed `iter(micro_batches)` to train_batch.
    eval_loss(micro_batches) -> float
        Mean loss over every rank's micro-batches, no gradients, same value on every rank.
        Every rank passes the same number of micro-batches (ZeRO-3 forwards are collectives).
    lr() -> float, grad_norm() -> float | None          (of the last step)
    save(save_dir, tag, client_state) / load(save_dir, tag, step) -> client_state
        DeepSpeed checkpoint of module + optimizer under save_dir/tag, all ranks call both. load
        then sets the learning rate for `step` from the CURRENT config (the schedule may change).
    dp_rank, dp_size                                   this rank's data-parallel coordinates
    engine                                             the DeepSpeed engine (for consolidation etc.)
    zero_stage                                         int, how the checkpoint is laid out
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch

from common.config import ConfigError
from pipeline import dist
from pipeline.config import TrainConfig
from pipeline.ds_config import build_ds_config
from pipeline.model import Transformer
from pipeline.schedule import make_scheduler


class TrainStep(Protocol):
    engine: Any
    zero_stage: int
    dp_rank: int
    dp_size: int

    def train_step(self, micro_batches: list[torch.Tensor]) -> float: ...
    def eval_loss(self, micro_batches: list[torch.Tensor]) -> float: ...
    def lr(self) -> float: ...
    def grad_norm(self) -> float | None: ...
    def save(self, save_dir: Path, tag: str, client_state: dict[str, Any]) -> None: ...
    def load(self, save_dir: Path, tag: str, step: int) -> dict[str, Any]: ...


def param_group_names(model: torch.nn.Module) -> list[list[str]]:
    """Parameter names of the optimizer's two groups, in optimizer order: [decayed, not decayed]."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    return [[name for name, p in trainable if p.dim() >= 2], [name for name, p in trainable if p.dim() < 2]]


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only; norms' gains (1-D) are not decayed."""
    params = dict(model.named_parameters())
    decay, no_decay = ([params[name] for name in names] for names in param_group_names(model))
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class DeepSpeedStep:
    """Data parallel + ZeRO 0-3 on a plain `Transformer` (tp = pp = 1)."""

    def __init__(self, cfg: TrainConfig, model: Transformer, mpu: Any = None):
        """`mpu`: the model-parallel groups of a tp/pp layout (pipeline.parallel), which DeepSpeed needs
        to size its data-parallel world; None for pure data parallelism."""
        import deepspeed

        self.cfg = cfg
        self.zero_stage = cfg.parallel.zero_stage
        model.activation_checkpointing = cfg.parallel.activation_checkpointing
        ds_config = build_ds_config(cfg, dist.world_size())
        self.engine, _, _, _ = deepspeed.initialize(
            model=model, model_parameters=param_groups(model, cfg.optim.weight_decay), config=ds_config,
            lr_scheduler=lambda optimizer: make_scheduler(optimizer, cfg.optim, cfg.train.steps), mpu=mpu)
        self.device = self.engine.device
        self.dp_rank, self.dp_size = dist.rank(), dist.world_size()
        # DeepSpeed's plain fp32 path (no ZeRO) clips without keeping the norm: measure it ourselves.
        self._own_grad_norm = self.zero_stage == 0 and cfg.train.precision == "fp32"
        self._last_grad_norm: float | None = None

    def _loss(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device, non_blocking=True)
        return self.engine(batch[:, :-1], batch[:, 1:])

    def train_step(self, micro_batches: list[torch.Tensor]) -> float:
        self.engine.train()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for i, batch in enumerate(micro_batches):
            loss = self._loss(batch)
            self.engine.backward(loss)
            if self._own_grad_norm and i == len(micro_batches) - 1:
                self._last_grad_norm = self._total_grad_norm()
            self.engine.step()
            total += loss.detach().double()
        return self._global_mean(total, len(micro_batches))

    def _total_grad_norm(self) -> float:
        """Pre-clipping norm of the (already all-reduced) gradients, as ZeRO's optimizers report it."""
        grads = [p.grad for p in self.engine.module.parameters() if p.grad is not None]
        return float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0

    @torch.no_grad()
    def eval_loss(self, micro_batches: list[torch.Tensor]) -> float:
        self.engine.eval()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        for batch in micro_batches:
            total += self._loss(batch).double() * batch.shape[0]
            count += batch.shape[0]
        self.engine.train()
        return self._global_mean(total, count)

    def _global_mean(self, total: torch.Tensor, count: int) -> float:
        both = torch.stack([total, torch.tensor(float(count), dtype=torch.float64, device=self.device)])
        if torch.distributed.is_initialized():
            torch.distributed.all_reduce(both)
        return float(both[0] / both[1]) if both[1] else float("nan")

    def lr(self) -> float:
        return float(self.engine.get_lr()[0])

    def grad_norm(self) -> float | None:
        norm = self._last_grad_norm if self._own_grad_norm else self.engine.get_global_grad_norm()
        return None if norm is None else float(norm)

    def save(self, save_dir: Path, tag: str, client_state: dict[str, Any]) -> None:
        self.engine.save_checkpoint(str(save_dir), tag=tag, client_state=client_state, save_latest=False)

    def load(self, save_dir: Path, tag: str, step: int) -> dict[str, Any]:
        path, client_state = self.engine.load_checkpoint(str(save_dir), tag=tag, load_lr_scheduler_states=False)
        if path is None:
            raise RuntimeError(f"DeepSpeed could not load checkpoint {save_dir / tag}")
        scheduler = self.engine.lr_scheduler
        scheduler.last_epoch = step
        for group, base, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
            group["lr"] = base * factor(step)
        return client_state or {}


def build_engine(cfg: TrainConfig, model: Transformer) -> TrainStep:
    """The engine for cfg.parallel; tp/pp layouts come from `pipeline.parallel` when it provides them."""
    if cfg.parallel.tp > 1 or cfg.parallel.pp > 1:
        try:
            from pipeline.parallel import build_parallel_engine  # type: ignore[attr-defined]
        except ImportError:
            raise ConfigError(f"parallel.tp={cfg.parallel.tp} / parallel.pp={cfg.parallel.pp}: tensor and pipeline "
                              "parallelism are not available in this build (pipeline.parallel); use tp=1 pp=1") from None
        return build_parallel_engine(cfg, model)
    return DeepSpeedStep(cfg, model)
