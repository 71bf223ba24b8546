"""`build_engine`: the engine for a config's layout, the only place that chooses one."""
from __future__ import annotations

from pipeline import dist
from pipeline.config import TrainConfig
from pipeline.engines.base import TrainEngine
from pipeline.engines.pipeline_parallel import PipelineParallelEngine
from pipeline.engines.zero import ZeroEngine
from pipeline.model import Transformer
from pipeline.parallel.layout import ProcessGroups, check_layout


def build_engine(cfg: TrainConfig, model: Transformer, eos_id: int | None = None) -> TrainEngine:
    """pp > 1: PipelineParallelEngine; otherwise ZeroEngine, given our process groups when tp > 1
    (AutoTP). Pure data parallelism creates no groups of ours: DeepSpeed's world is the data group.
    `eos_id`: the corpus's end-of-document id when data.document_mask is on (attention and positions
    restart after it), else None."""
    if cfg.parallel.tp == 1 and cfg.parallel.pp == 1:
        return ZeroEngine(cfg, model, eos_id=eos_id)
    groups = ProcessGroups(check_layout(cfg.parallel, cfg.model, dist.world_size()))
    if cfg.parallel.pp > 1:
        return PipelineParallelEngine(cfg, model, groups, eos_id)
    return ZeroEngine(cfg, model, groups, eos_id)
