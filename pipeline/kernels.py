"""How the model's blocks execute, without changing what they compute: `train.compile` (torch.compile
of each transformer block, as torchtitan does: every block has the same code, so it is traced once
and reused) and `train.liger_kernels` (liger-kernel's fused Triton ops on GPU: RMSNorm, rotary,
SwiGLU, and the fused linear + cross-entropy loss that never materialises the logits).

Both apply to whatever module holds the blocks (the plain `Transformer`, an AutoTP-sharded one or a
pipeline stage) after DeepSpeed has wrapped it, and keep parameter names unchanged
(`nn.Module.compile` compiles in place), so checkpoints are the same with and without them.
liger-kernel is imported only when asked for; it needs CUDA and Triton.
"""
from __future__ import annotations

import torch
from torch import nn

from common.config import ConfigError
from pipeline.model import Attention, FeedForward, RMSNorm, Transformer, TransformerBlock


def compile_blocks(module: nn.Module) -> int:
    """torch.compile every TransformerBlock inside `module` in place; returns how many."""
    blocks = [m for m in module.modules() if isinstance(m, TransformerBlock)]
    for block in blocks:
        block.compile()
    return len(blocks)


def check_liger() -> None:
    """A ConfigError unless liger-kernel can run here (CUDA and the package; ZeRO-3 is refused by
    `TrainConfig.validate`)."""
    if not torch.cuda.is_available():
        raise ConfigError("train.liger_kernels needs a CUDA GPU (liger-kernel's ops are Triton kernels); "
                          "set train.liger_kernels=false on CPU")
    try:
        import liger_kernel.transformers.functional  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"train.liger_kernels needs the liger-kernel package ({exc}); "
                          f"`pip install liger-kernel` or set train.liger_kernels=false") from None


def _rotary(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """liger's rope takes cos/sin as (1 or batch, seq, head_dim); ours are (seq, head_dim) or
    (batch, 1, seq, head_dim)."""
    from liger_kernel.transformers.functional import liger_rope

    seq, head_dim = q.shape[-2], q.shape[-1]
    return liger_rope(q, k, cos.reshape(-1, seq, head_dim).to(q.dtype), sin.reshape(-1, seq, head_dim).to(q.dtype))


def _linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

    return liger_fused_linear_cross_entropy(h.reshape(-1, h.shape[-1]), weight, targets.reshape(-1))


def use_liger(module: nn.Module) -> None:
    """Route RMSNorm, rotary, SwiGLU and (in a whole `Transformer`) the head + loss through
    liger-kernel. Call `check_liger` first."""
    from liger_kernel.transformers.functional import liger_rms_norm, liger_swiglu

    for sub in module.modules():
        if isinstance(sub, RMSNorm):
            sub.fused = liger_rms_norm
        elif isinstance(sub, Attention):
            sub.fused_rotary = _rotary
        elif isinstance(sub, FeedForward):
            sub.fused = liger_swiglu
        elif isinstance(sub, Transformer):
            sub.fused_linear_cross_entropy = _linear_cross_entropy
