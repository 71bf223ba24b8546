"""Pipeline parallelism (tp x pp when our sharded blocks are inside): DeepSpeed's `train_batch`
runs the 1F1B schedule over all of this replica's micro-batches at once. ZeRO-1 only
(`parallel/layout.py` says why not 0, 2 or 3)."""
from __future__ import annotations

from typing import Callable

import torch

from pipeline.config import TrainConfig
from pipeline.engines.base import DeepSpeedBase
from pipeline.model import Transformer
from pipeline.parallel.consolidate import load_shards
from pipeline.parallel.layout import ProcessGroups
from pipeline.parallel.stages import build_pipeline_module


class PipelineParallelEngine(DeepSpeedBase):
    def __init__(self, cfg: TrainConfig, model: Transformer, groups: ProcessGroups, eos_id: int | None = None):
        """Each stage builds only its layers, then copies their weights out of `model`'s."""
        module = build_pipeline_module(cfg, groups)
        load_shards(module, cfg.model, groups, model.state_dict().__getitem__,
                    lambda param, value: param.copy_(value))
        super().__init__(cfg, module, groups, eos_id=eos_id)

    def grad_norm(self) -> float | None:
        norm = self.ds.get_global_grad_norm()
        return None if norm is None else float(norm)

    def _pairs(self, micro_batches: list[torch.Tensor]):
        """(inputs, labels) per micro-batch; inputs are (tokens, positions) under document masking."""
        pairs = []
        for batch in micro_batches:
            tokens = batch[:, :-1].to(self.device)
            positions = self._positions(tokens)
            pairs.append((tokens if positions is None else (tokens, positions), batch[:, 1:].to(self.device)))
        return iter(pairs)

    def train_step(self, micro_batches: list[torch.Tensor],
                   accept: Callable[[float], bool] = lambda loss: True) -> float:
        """Mean loss of the global batch: DeepSpeed averages it over data-parallel replicas and
        broadcasts it from the last stage to the others. `accept` is not asked: the loss comes
        after the optimizer step (DeepSpeed still drops a step with a non-finite gradient norm)."""
        loss = float(self.ds.train_batch(data_iter=self._pairs(micro_batches)))
        self._after_boundary()
        return loss

    def eval_loss(self, micro_batches: list[torch.Tensor]) -> float:
        if not micro_batches:
            return float("nan")
        loss = self.ds.eval_batch(self._pairs(micro_batches), num_micro_batches=len(micro_batches))
        # Each replica's mean, equal on its stages; averaging over all ranks weighs replicas equally.
        return self._global_mean(loss.detach().double().reshape(()), 1)
