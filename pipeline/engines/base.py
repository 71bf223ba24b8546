"""The step protocol every engine implements, and the DeepSpeed plumbing the engines share.

`TrainEngine` is what the loop in `pipeline/train.py` sees, whatever the layout:

    train_step(micro_batches, accept) -> float
        One optimizer step over this rank's micro-batches (list of (micro_batch, seq_len + 1) int64
        tensors; inputs [:, :-1], labels [:, 1:]). Returns the mean loss over the GLOBAL batch,
        the same value on every rank. `accept(loss)` is asked before the optimizer step (the
        pipeline engine cannot: it learns the loss after); when it says no, the step leaves the
        weights and optimizer state as they were.
    step_applied() -> bool
        Whether the last step updated the weights: False when `accept` refused it or DeepSpeed
        dropped it for a non-finite gradient norm. The lr schedule moves on either way.
    eval_loss(micro_batches) -> float
        Mean loss over every rank's micro-batches, no gradients, same value on every rank.
        Every rank passes the same number of micro-batches (ZeRO-3 forwards are collectives).
    lr() -> float, grad_norm() -> float | None          (of the last step)
    save(save_dir, tag, client_state) / load(save_dir, tag, step) -> client_state
        DeepSpeed checkpoint of module + optimizer under save_dir/tag, all ranks call both. load
        then sets the learning rate for `step` from the CURRENT config (the schedule may change).
    start_at(step)
        Set the lr schedule to `step` (a run continuing a consolidated checkpoint's count).
    full_state_dict() -> dict | None
        Collective. The whole fp32 model with our names on rank 0 (None on the others), which the
        trainer writes beside the checkpoint: always under tp/pp (DeepSpeed's files of those layouts
        cannot be merged offline), with checkpoint.reshardable under every layout.
    full_adam_state() -> (dict, int) | None
        Collective. Adam's moments, full fp32 with our names ("exp_avg/<name>", "exp_avg_sq/<name>"),
        and its step count on rank 0; None on the others.
    load_adam_state(path) -> int
        Set Adam's moments and step count from an optimizer.safetensors written under any layout
        (this rank's slice of each); returns the step count. With load_into_model for the weights
        and start_at for the schedule, a run continues under another layout as if it had not moved.
    dp_rank, dp_size                                   this rank's data-parallel coordinates
    zero_stage                                         int, how the checkpoint is laid out
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

import torch

from pipeline import dist
from pipeline.config import TrainConfig
from pipeline.ds_config import build_ds_config, make_optimizer
from pipeline.kernels import check_liger, compile_blocks, use_liger
from pipeline.model import document_positions
from pipeline.parallel.consolidate import full_adam_state, full_state_dict, load_adam_state
from pipeline.parallel.layout import ProcessGroups, Topology
from pipeline.schedule import make_scheduler


class TrainEngine(Protocol):
    zero_stage: int
    dp_rank: int
    dp_size: int

    def train_step(self, micro_batches: list[torch.Tensor], accept: Callable[[float], bool] = ...) -> float: ...
    def step_applied(self) -> bool: ...
    def start_at(self, step: int) -> None: ...
    def eval_loss(self, micro_batches: list[torch.Tensor]) -> float: ...
    def lr(self) -> float: ...
    def grad_norm(self) -> float | None: ...
    def save(self, save_dir: Path, tag: str, client_state: dict[str, Any]) -> None: ...
    def load(self, save_dir: Path, tag: str, step: int) -> dict[str, Any]: ...
    def full_state_dict(self) -> dict[str, torch.Tensor] | None: ...
    def full_adam_state(self) -> tuple[dict[str, torch.Tensor], int] | None: ...
    def load_adam_state(self, path: Path) -> int: ...


def param_group_names(model: torch.nn.Module) -> list[list[str]]:
    """Parameter names of the optimizer's two groups, in optimizer order: [decayed, not decayed]."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    return [[name for name, p in trainable if p.dim() >= 2], [name for name, p in trainable if p.dim() < 2]]


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only; norms' gains (1-D) are not decayed."""
    params = dict(model.named_parameters())
    decay, no_decay = ([params[name] for name in names] for names in param_group_names(model))
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class DeepSpeedBase:
    """A `deepspeed.initialize`d module with what every engine does the same way: learning rate,
    checkpoint files, consolidation and means over all ranks. Subclasses own the step itself."""

    def __init__(self, cfg: TrainConfig, module: torch.nn.Module, groups: ProcessGroups | None, mpu: Any = None,
                 eos_id: int | None = None):
        """`groups`: the tp/pp layout's process groups (None for pure data parallelism); `mpu`: what
        DeepSpeed is told about them (a PipelineModule carries its own topology instead); `eos_id`:
        the end-of-document token attention must not look across (None: no document masking)."""
        import deepspeed

        self.cfg, self.groups, self.eos_id = cfg, groups, eos_id
        self._data_groups: ProcessGroups | None = None
        self.zero_stage = cfg.parallel.zero_stage
        if cfg.train.liger_kernels:
            check_liger()
        self.ds, _, _, _ = deepspeed.initialize(
            model=module, model_parameters=param_groups(module, cfg.optim.weight_decay),
            optimizer=make_optimizer(cfg), config=build_ds_config(cfg, dist.world_size()),
            lr_scheduler=lambda optimizer: make_scheduler(optimizer, cfg.optim, cfg.train.steps), mpu=mpu)
        self.device = self.ds.device
        self._applied = True
        if cfg.train.liger_kernels:
            use_liger(self.ds.module)
        if cfg.train.compile:
            compile_blocks(self.ds.module)
        if groups is None:
            self.dp_rank, self.dp_size = dist.rank(), dist.world_size()
        else:
            self.dp_rank, self.dp_size = groups.get_data_parallel_rank(), groups.get_data_parallel_world_size()

    def _positions(self, inputs: torch.Tensor) -> torch.Tensor | None:
        """Each input token's position inside its document, or None without document masking."""
        return None if self.eos_id is None else document_positions(inputs, self.eos_id)

    def _global_mean(self, total: torch.Tensor, count: int) -> float:
        both = torch.stack([total, torch.tensor(float(count), dtype=torch.float64, device=self.device)])
        if torch.distributed.is_initialized():
            torch.distributed.all_reduce(both)
        return float(both[0] / both[1]) if both[1] else float("nan")

    def lr(self) -> float:
        return float(self.ds.get_lr()[0])

    def save(self, save_dir: Path, tag: str, client_state: dict[str, Any]) -> None:
        self.ds.save_checkpoint(str(save_dir), tag=tag, client_state=client_state, save_latest=False)

    def load(self, save_dir: Path, tag: str, step: int) -> dict[str, Any]:
        path, client_state = self.ds.load_checkpoint(str(save_dir), tag=tag, load_lr_scheduler_states=False)
        if path is None:
            raise RuntimeError(f"DeepSpeed could not load checkpoint {save_dir / tag}")
        self.start_at(step)
        return client_state or {}

    def start_at(self, step: int) -> None:
        scheduler = self.ds.lr_scheduler
        scheduler.last_epoch = step
        for group, base, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
            group["lr"] = base * factor(step)

    def step_applied(self) -> bool:
        return self._applied

    def _after_boundary(self, refused: bool = False) -> None:
        """Book-keeping after the optimizer step of an accumulation boundary. A step DeepSpeed
        dropped (non-finite gradient norm) left its scheduler behind: move it on, so the rate stays
        a function of the step count (exact resume)."""
        dropped = not self.ds.was_step_applied()
        self._applied = not (refused or dropped)
        if dropped:
            self.start_at(self.ds.lr_scheduler.last_epoch + 1)

    def _boundary_step(self, apply: bool) -> None:
        """`ds.step()` at the accumulation boundary; apply=False turns the wrapped torch optimizer's
        step into a no-op, so DeepSpeed clears the gradients but weights and moments stay."""
        optimizer = self.ds.basic_optimizer
        if not apply:
            optimizer.step = lambda *args, **kwargs: None
        try:
            self.ds.step()
        finally:
            if not apply:
                del optimizer.step
        self._after_boundary(refused=not apply)

    def _layout_groups(self) -> ProcessGroups:
        """Our groups; pure data parallelism (which needs none to train) builds them at the first
        consolidation, on every rank at once (creating groups is collective)."""
        if self.groups is None and self._data_groups is None:
            self._data_groups = ProcessGroups(Topology(tp=1, pp=1, dp=dist.world_size()))
        return self.groups or self._data_groups

    def full_state_dict(self) -> dict[str, torch.Tensor] | None:
        return full_state_dict(self.ds.module, self.cfg.model, self._layout_groups())

    def full_adam_state(self) -> tuple[dict[str, torch.Tensor], int] | None:
        return full_adam_state(self.ds, self.cfg.model, self._layout_groups())

    def load_adam_state(self, path: Path) -> int:
        return load_adam_state(self.ds, self.cfg.model, self._layout_groups(), path)
