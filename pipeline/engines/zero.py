"""One whole model per data-parallel replica under ZeRO 0-3; with tp > 1 AutoTP splits its blocks.

AutoTP needs only the DeepSpeed config's "tensor_parallel" section (`pipeline/ds_config.py` adds it
when tp > 1 and pp = 1) and our groups as `mpu`, from which DeepSpeed sizes its data-parallel world
(batch = micro x accumulation x dp); it then builds its own data x tensor mesh, whose ranks are
the same as ours (`parallel/layout.py`).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from pipeline.config import TrainConfig
from pipeline.engines.base import DeepSpeedBase
from pipeline.model import Transformer
from pipeline.parallel.layout import ProcessGroups


class ZeroEngine(DeepSpeedBase):
    """Data parallel + ZeRO on the plain `Transformer`; `groups` only for tensor parallelism."""

    def __init__(self, cfg: TrainConfig, model: Transformer, groups: ProcessGroups | None = None,
                 eos_id: int | None = None):
        model.activation_checkpointing = cfg.parallel.activation_checkpointing
        super().__init__(cfg, model, groups, mpu=groups, eos_id=eos_id)
        # DeepSpeed's plain fp32 path (no ZeRO) clips without keeping the norm: measure it ourselves.
        self._own_grad_norm = self.zero_stage == 0 and cfg.train.precision == "fp32"
        self._last_grad_norm: float | None = None

    def _loss(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device, non_blocking=True)
        inputs = batch[:, :-1]
        return self.ds(inputs, batch[:, 1:], positions=self._positions(inputs))

    def train_step(self, micro_batches: list[torch.Tensor],
                   accept: Callable[[float], bool] = lambda loss: True) -> float:
        """The last micro-batch's `ds.step()` is the optimizer step: the global loss is known by then."""
        self.ds.train()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for i, batch in enumerate(micro_batches):
            loss = self._loss(batch)
            self.ds.backward(loss)
            total += loss.detach().double()
            if i < len(micro_batches) - 1:
                self.ds.step()
        mean = self._global_mean(total, len(micro_batches))
        apply = accept(mean)
        if self._own_grad_norm:    # the plain torch optimizer would step on non-finite gradients
            self._last_grad_norm = self._total_grad_norm()
            apply = apply and math.isfinite(self._last_grad_norm)
        self._boundary_step(apply)
        return mean

    def _total_grad_norm(self) -> float:
        """Pre-clipping norm of the (already all-reduced) gradients, as ZeRO's optimizers report it."""
        grads = [p.grad for p in self.ds.module.parameters() if p.grad is not None]
        return float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0

    @torch.no_grad()
    def eval_loss(self, micro_batches: list[torch.Tensor]) -> float:
        self.ds.eval()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        for batch in micro_batches:
            total += self._loss(batch).double() * batch.shape[0]
            count += batch.shape[0]
        self.ds.train()
        return self._global_mean(total, count)

    def grad_norm(self) -> float | None:
        norm = self._last_grad_norm if self._own_grad_norm else self.ds.get_global_grad_norm()
        return None if norm is None else float(norm)
