"""Model parallelism on top of DeepSpeed: tensor parallel (AutoTP) and pipeline parallel layouts.

`pipeline.engine.build_engine` calls `build_parallel_engine` when parallel.tp > 1 or pp > 1.
Both steps implement the `TrainStep` interface of `pipeline/engine.py`; their `save` also writes
the consolidated fp32 weights (`model.safetensors`) into the checkpoint, because DeepSpeed's own
files under tp/pp layouts cannot be merged offline (see `consolidate.py`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipeline import dist
from pipeline.checkpoint import CONSOLIDATED, write_consolidated
from pipeline.config import TrainConfig
from pipeline.engine import DeepSpeedStep
from pipeline.parallel.consolidate import full_state_dict
from pipeline.parallel.layout import LayoutError, ProcessGroups, Topology, check_layout
from pipeline.parallel.pipeline import PipelineStep

__all__ = ["LayoutError", "Topology", "build_parallel_engine", "check_layout"]


class _Consolidating:
    """Mixin: coordinates from our groups, consolidated weights written with every checkpoint."""

    groups: ProcessGroups
    cfg: TrainConfig
    engine: Any

    def _take_groups(self, groups: ProcessGroups) -> None:
        self.groups = groups
        self.dp_rank, self.dp_size = groups.get_data_parallel_rank(), groups.get_data_parallel_world_size()

    def full_state_dict(self) -> dict[str, torch.Tensor] | None:
        return full_state_dict(self.engine.module, self.cfg.model, self.groups)

    def save(self, save_dir: Path, tag: str, client_state: dict[str, Any]) -> None:
        super().save(save_dir, tag, client_state)  # type: ignore[misc]
        weights = self.full_state_dict()
        if weights is not None:
            write_consolidated(Path(save_dir) / tag / CONSOLIDATED, weights, self.cfg.model, f"{save_dir}/{tag}")


class TensorParallelStep(_Consolidating, DeepSpeedStep):
    """AutoTP x data parallel x ZeRO 1-3: DeepSpeedStep with the "tensor_parallel" config section
    (added by `pipeline.ds_config` when parallel.tp > 1); deepspeed.initialize shards the model."""

    def __init__(self, cfg: TrainConfig, model: torch.nn.Module, groups: ProcessGroups):
        # Our groups as `mpu` size DeepSpeed's data-parallel world (batch = micro x accumulation x dp);
        # AutoTP then swaps in its own data x tensor mesh, whose ranks are the same (layout.py).
        super().__init__(cfg, model, mpu=groups)
        self._take_groups(groups)


class PipelineParallelStep(_Consolidating, PipelineStep):
    def __init__(self, cfg: TrainConfig, model: torch.nn.Module, groups: ProcessGroups):
        super().__init__(cfg, model, groups)
        self._take_groups(groups)


def build_parallel_engine(cfg: TrainConfig, model: torch.nn.Module) -> DeepSpeedStep:
    topology = check_layout(cfg.parallel, cfg.model, dist.world_size())
    groups = ProcessGroups(topology)
    if topology.pp > 1:
        return PipelineParallelStep(cfg, model, groups)
    return TensorParallelStep(cfg, model, groups)
