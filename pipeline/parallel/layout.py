"""The data x tensor x pipeline layout: checked before any process group exists, then built.

Validation runs on the config and the world size alone, so a bad layout fails in every rank with
the same one-sentence message before DeepSpeed creates a group (a failure after that point can
leave the other ranks waiting in a collective forever).

Rank order is the one DeepSpeed uses for both AutoTP (`initialize_mesh_device((dp, tp))`) and
`PipeModelDataParallelTopology` (axes pipe, data, model): tensor fastest, then data, then pipe,

    rank = pipe * (dp * tp) + data * tp + tensor

so tensor-parallel partners sit on neighbouring ranks (the same node on GPU clusters, where the
per-layer all-reduces need NVLink) and our groups agree with the ones DeepSpeed builds itself.
"""
from __future__ import annotations

import dataclasses

from common.config import ConfigError
from pipeline.config import ModelConfig, ParallelConfig


class LayoutError(ConfigError):
    """A tp/pp/dp/batch combination that cannot run; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class Topology:
    """Rank <-> (pipe, data, tensor) coordinates for a world of pp * dp * tp processes."""

    tp: int
    pp: int
    dp: int

    @property
    def world_size(self) -> int:
        return self.tp * self.pp * self.dp

    def rank(self, pipe: int, data: int, tensor: int) -> int:
        return pipe * self.dp * self.tp + data * self.tp + tensor

    def coords(self, rank: int) -> tuple[int, int, int]:
        """(pipe, data, tensor) of a global rank."""
        pipe, rest = divmod(rank, self.dp * self.tp)
        data, tensor = divmod(rest, self.tp)
        return pipe, data, tensor

    def tensor_groups(self) -> list[list[int]]:
        return [[self.rank(p, d, t) for t in range(self.tp)] for p in range(self.pp) for d in range(self.dp)]

    def data_groups(self) -> list[list[int]]:
        return [[self.rank(p, d, t) for d in range(self.dp)] for p in range(self.pp) for t in range(self.tp)]

    def pipe_groups(self) -> list[list[int]]:
        return [[self.rank(p, d, t) for p in range(self.pp)] for d in range(self.dp) for t in range(self.tp)]

    def model_groups(self) -> list[list[int]]:
        """All ranks holding one full copy of the model together (tensor x pipe)."""
        return [[self.rank(p, d, t) for p in range(self.pp) for t in range(self.tp)] for d in range(self.dp)]


def data_parallel_size(tp: int, pp: int, world_size: int) -> int:
    """How many model replicas `world_size` ranks hold: world / (tp x pp)."""
    model_parallel = tp * pp
    if world_size % model_parallel:
        raise LayoutError(f"world size {world_size} is not divisible by parallel.tp x parallel.pp = "
                          f"{tp} x {pp} = {model_parallel}; launch a multiple of {model_parallel} "
                          f"processes or change parallel.tp / parallel.pp")
    return world_size // model_parallel


def accumulation_steps(global_batch: int, micro_batch: int, dp: int) -> int:
    """Micro-batches per replica and optimizer step, so the step sees `global_batch` on any dp."""
    per_step = micro_batch * dp
    if global_batch % per_step:
        raise LayoutError(f"parallel.global_batch ({global_batch}) is not divisible by parallel.micro_batch x "
                          f"data-parallel size = {micro_batch} x {dp} = {per_step}; "
                          f"make global_batch a multiple of {per_step}")
    return global_batch // per_step


def check_layout(par: ParallelConfig, model: ModelConfig, world_size: int) -> Topology:
    """The topology for `world_size` ranks, or a LayoutError naming the setting to change."""
    dp = data_parallel_size(par.tp, par.pp, world_size)
    model_parallel = par.tp * par.pp
    if par.pp > 1 and par.zero_stage >= 2:
        raise LayoutError(f"parallel.zero_stage={par.zero_stage} cannot be combined with pipeline parallelism "
                          f"(DeepSpeed refuses ZeRO-2/3 inside a pipeline); use parallel.zero_stage=1 "
                          f"or parallel.pp=1")
    if model_parallel > 1 and par.zero_stage == 0:
        # Measured with DeepSpeed 0.19.8 (docs/PARALLELISM.md): its ZeRO-0 pipeline clipping leaves
        # later stages out of the norm, and its unfused bf16 optimizer flattens the gradients before
        # the norm, losing the tensor-parallel marks; ZeRO-1 is exact in both and costs no more.
        raise LayoutError("parallel.zero_stage=0 with tensor or pipeline parallelism computes the gradient-"
                          "clipping norm wrong in DeepSpeed; use parallel.zero_stage=1")
    for name, count in (("model.n_heads", model.n_heads), ("model.n_kv_heads", model.kv_heads),
                        ("the MLP hidden size", model.hidden_dim)):
        if count % par.tp:
            raise LayoutError(f"{name} ({count}) is not divisible by parallel.tp ({par.tp}); "
                              f"choose a tensor-parallel degree that divides it")
    if model.n_layers < par.pp:
        raise LayoutError(f"model.n_layers ({model.n_layers}) is smaller than parallel.pp ({par.pp}); "
                          f"every pipeline stage needs at least one transformer block")
    accumulation_steps(par.global_batch, par.micro_batch, dp)
    return Topology(tp=par.tp, pp=par.pp, dp=dp)


class ProcessGroups:
    """Our topology's torch.distributed groups behind the `mpu` interface DeepSpeed accepts.

    Every rank creates every group in the same order (a torch.distributed requirement) and keeps
    the ones it belongs to.
    """

    def __init__(self, topology: Topology):
        import torch.distributed as dist

        self.topology = topology
        self.global_rank = dist.get_rank()
        if dist.get_world_size() != topology.world_size:
            raise LayoutError(f"the process group has {dist.get_world_size()} ranks but the layout needs "
                              f"{topology.world_size}")
        self.pipe, self.data, self.tensor = topology.coords(self.global_rank)
        self._groups = {}
        for kind, lists in (("tensor", topology.tensor_groups()), ("data", topology.data_groups()),
                            ("pipe", topology.pipe_groups()), ("model", topology.model_groups())):
            for ranks in lists:
                group = dist.new_group(ranks)
                if self.global_rank in ranks:
                    self._groups[kind] = (group, ranks)

    def _rank_in(self, kind: str) -> int:
        return self._groups[kind][1].index(self.global_rank)

    def ranks(self, kind: str) -> list[int]:
        """Global ranks of this rank's `kind` group ("tensor", "data", "pipe" or "model")."""
        return list(self._groups[kind][1])

    def get_data_parallel_group(self):
        return self._groups["data"][0]

    def get_data_parallel_rank(self) -> int:
        return self.data

    def get_data_parallel_world_size(self) -> int:
        return self.topology.dp

    def get_tensor_model_parallel_group(self):
        return self._groups["tensor"][0]

    def get_tensor_model_parallel_rank(self) -> int:
        return self.tensor

    def get_tensor_model_parallel_world_size(self) -> int:
        return self.topology.tp

    def get_tensor_model_parallel_src_rank(self) -> int:
        return self._groups["tensor"][1][0]

    def get_pipe_parallel_group(self):
        return self._groups["pipe"][0]

    def get_pipe_parallel_rank(self) -> int:
        return self.pipe

    def get_pipe_parallel_world_size(self) -> int:
        return self.topology.pp

    def get_model_parallel_group(self):
        return self._groups["model"][0]

    def get_model_parallel_rank(self) -> int:
        return self._rank_in("model")

    def get_model_parallel_world_size(self) -> int:
        return self.topology.tp * self.topology.pp
