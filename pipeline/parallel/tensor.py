"""Tensor parallelism for the plain `Transformer` through DeepSpeed AutoTP (training mode).

AutoTP rewrites the model's nn.Linear layers in place when `deepspeed.initialize` sees a
`"tensor_parallel"` section, so the model code stays plain and ZeRO 0-3 runs on top. We hand it an
explicit partition_config for our Meta/Llama parameter names (without one AutoTP refuses a custom
module: "Not able to determine model policy automatically"):

- column-parallel (output dim split, heads/hidden units per rank): wq, wk, wv, w1, w3;
- row-parallel (input dim split, all-reduce after): wo, w2.

Attention reads its head count from wq/wk's shapes, so a rank holding n_heads/tp heads runs the
unchanged forward. AutoTP marks sharded weights `ds_tensor_model_parallel`, which the gradient
clipping norm needs (unmarked shards would be counted as replicas and the clipped update drifts).

Embedding and output head stay replicated on every tensor-parallel rank, on purpose:
- DeepSpeed's embedding slicing (`_slice_embedding`) builds a `requires_grad=False` parameter,
  i.e. training would silently freeze the embedding;
- a vocab-parallel head only pays off with a vocab-parallel cross-entropy (no full logits), which
  DeepSpeed ties to heads named lm_head/embed_out and a loss it owns, not ours;
- at the sizes we train (<= 7B, 32k vocab) they are ~4% of the parameters, while the blocks hold
  the rest and all the per-token compute.
The `output` head is listed as SKIP and strict_mode is on, so a linear layer added to the model
later fails loudly instead of being silently replicated.

Not covered: tensor parallelism inside a pipeline (AutoTP replaces the engine's `mpu` with its own
data x tensor mesh, which would drop the pipeline groups); `layout.check_layout` rejects tp x pp.
"""
from __future__ import annotations

import re
from typing import Any

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
