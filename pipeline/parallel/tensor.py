"""Tensor parallelism for the plain `Transformer` through DeepSpeed AutoTP (training mode).

AutoTP rewrites the model's nn.Linear layers in place when `deepspeed.initialize` sees a
`"tensor_parallel"` section, so the model code stays plain and ZeRO 0-3 runs on top. We hand it an
explicit partition_config for our Meta/Llama parameter names (without one AutoTP refuses a custom
module: "Not able to determine model policy automatically"):

- column-parallel (output dim split, heads/hidden units per rank): wq, wk, wv, w1, w3;
- row-parallel (input dim split, all-reduce after): wo, w2.

Attention reads its head count from wq/wk's shapes, so a rank holding n_heads/tp heads runs the
unchanged forward. AutoTP marks sharded weights `tensor_model_parallel`, which the gradient
clipping norm needs (unmarked shards would be counted as replicas and the clipped update drifts).

Embedding and output head stay replicated on every tensor-parallel rank, on purpose:
- DeepSpeed's embedding slicing (`_slice_embedding`) builds a `requires_grad=False` parameter,
  i.e. training would silently freeze the embedding;
- a vocab-parallel head only pays off with a vocab-parallel cross-entropy (no full logits), which
  DeepSpeed ties to heads named lm_head/embed_out and a loss it owns, not ours;
- at the sizes we train they are a small share (7B with our 64k vocabulary: ~7% of the
  parameters), while the blocks hold the rest and nearly all the per-token compute.
The `output` head is listed as SKIP and strict_mode is on, so a linear layer added to the model
later fails loudly instead of being silently replicated.

Inside a pipeline AutoTP cannot work: it replaces the engine's `mpu` with its own data x tensor
mesh, which drops the pipeline's groups. There the blocks are sharded by the small Megatron-style
layers at the bottom of this file instead (same split, same parameter names) over our
`ProcessGroups` tensor group, which has the same ranks as the pipeline grid's slice group.
"""
from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.config import ModelConfig
from pipeline.model import TransformerBlock

COLUMN_PARALLEL = ("attention.wq", "attention.wk", "attention.wv", "feed_forward.w1", "feed_forward.w3")
ROW_PARALLEL = ("attention.wo", "feed_forward.w2")


def _pattern(modules: tuple[str, ...]) -> str:
    return r"^layers\.\d+\.(" + "|".join(re.escape(m) for m in modules) + r")\.weight$"


def autotp_section(tp: int) -> dict[str, Any]:
    """The DeepSpeed config's "tensor_parallel" section for `tp` ranks."""
    return {
        "autotp_size": tp,
        "partition_config": {
            "use_default_specs": False,
            "strict_mode": True,
            "layer_specs": [
                {"patterns": [_pattern(COLUMN_PARALLEL)], "partition_type": "column"},
                {"patterns": [_pattern(ROW_PARALLEL)], "partition_type": "row"},
                {"patterns": [r"^output\.weight$"], "partition_type": "skip"},
            ],
        },
    }


def shard_dim(name: str) -> int | None:
    """The dimension a parameter (our name) is split along under tensor parallelism; None: replicated."""
    if re.match(_pattern(COLUMN_PARALLEL), name):
        return 0
    if re.match(_pattern(ROW_PARALLEL), name):
        return 1
    return None


# ---- Megatron-style layers: tensor parallel inside a PipelineModule ----

class _CopyToTensorParallel(torch.autograd.Function):
    """Identity forward; backward sums the input gradient over the tensor group (each rank only saw
    its shard's contribution)."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        torch.distributed.all_reduce(grad, group=ctx.group)
        return grad, None


class _ReduceFromTensorParallel(torch.autograd.Function):
    """Forward sums the partial outputs over the tensor group; backward is the identity."""

    @staticmethod
    def forward(ctx, x, group):
        x = x.contiguous()
        torch.distributed.all_reduce(x, group=group)
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _ShardedLinear(nn.Module):
    """This rank's slice of a bias-free nn.Linear, split along `dim` (0 column, 1 row).

    The weight is marked `tensor_model_parallel`: DeepSpeed's gradient-norm code counts unmarked
    parameters once per tensor group (as replicas), which would drop the other shards from the norm
    and make clipping wrong."""

    def __init__(self, full: nn.Linear, dim: int, group, rank: int, size: int):
        super().__init__()
        self.dim, self.group = dim, group
        self.weight = nn.Parameter(full.weight.detach().chunk(size, dim=dim)[rank].clone())
        self.weight.tensor_model_parallel = True
        self.weight.partition_dim = dim
        self.weight.partition_stride = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dim == 0:
            return F.linear(_CopyToTensorParallel.apply(x, self.group), self.weight)
        return _ReduceFromTensorParallel.apply(F.linear(x, self.weight), self.group)


class TensorParallelBlock(TransformerBlock):
    """A TransformerBlock whose attention and MLP matrices hold this rank's shard (column-parallel
    wq/wk/wv/w1/w3, row-parallel wo/w2: one all-reduce after attention, one after the MLP).
    Parameter names are the plain block's, so loading and consolidation use `shard_dim`."""

    def __init__(self, cfg: ModelConfig, group, rank: int, size: int):
        super().__init__(cfg)
        for dim, paths in ((0, COLUMN_PARALLEL), (1, ROW_PARALLEL)):
            for path in paths:
                owner_name, name = path.split(".")
                owner = getattr(self, owner_name)
                setattr(owner, name, _ShardedLinear(getattr(owner, name), dim, group, rank, size))
