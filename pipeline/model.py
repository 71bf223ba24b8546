"""A Llama-style decoder-only Transformer, whole, in one file.

Token embedding -> N x [RMSNorm -> causal self-attention with rotary positions (grouped-query
heads optional) -> residual; RMSNorm -> SwiGLU MLP -> residual] -> RMSNorm -> output head.

Parameter names follow Meta's Llama (tok_embeddings, layers.i.attention.wq, feed_forward.w1 ...)
so tensor-parallel partition rules and the Hugging Face export are plain name maps. Rotary
embedding uses the "rotate half" layout that Hugging Face's Llama uses, so exported weights need
no permutation. Parallelism is applied to this plain model by functions in `pipeline/parallel/`.
"""
from __future__ import annotations

import functools
import importlib.util
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from pipeline.config import ModelConfig


class RMSNorm(nn.Module):
    fused = None         # a fused kernel (x, weight, eps) -> y, set by pipeline.kernels.use_liger

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return self.fused(x, self.weight, self.eps)
        x_float = x.float()
        normed = x_float * torch.rsqrt(x_float.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def rotary_table(length: int, head_dim: int, theta: float, device: torch.device | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """fp32 cos/sin tables (length, head_dim) for positions 0..length-1, rotate-half layout."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    positions = torch.arange(length, device=device, dtype=torch.float32)
    angles = torch.outer(positions, inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


class Rotary(nn.Module):
    """The rotary tables of positions 0..max_seq_len-1, computed once when the model is built (not in
    every layer's forward) and looked up by position. Non-persistent buffers: checkpoints do not hold
    them, and `.to()`/`.bfloat16()` move them with the model."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.max_seq_len = cfg.max_seq_len
        cos, sin = rotary_table(cfg.max_seq_len, cfg.head_dim, cfg.rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, seq_len: int, positions: torch.Tensor | None = None, start: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin broadcastable to (batch, heads, seq, head_dim): rows start..start+seq_len-1, or
        the rows of `positions` (batch, seq) when each token has its own position."""
        if positions is not None:
            return self.cos[positions].unsqueeze(1), self.sin[positions].unsqueeze(1)
        if start + seq_len > self.max_seq_len:
            raise ValueError(f"{start + seq_len} positions exceed model.max_seq_len ({self.max_seq_len})")
        return self.cos[start:start + seq_len], self.sin[start:start + seq_len]


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (batch, heads, seq, head_dim)."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


# ---- document-aware attention: packed samples hold several documents ----

def document_positions(tokens: torch.Tensor, eos_id: int) -> torch.Tensor:
    """(batch, seq) position of every token inside its document: 0 at a sample's first token and
    right after each eos (the eos itself closes its document), as Megatron's reset_position_ids."""
    index = torch.arange(tokens.shape[1], device=tokens.device).expand_as(tokens)
    starts = torch.zeros_like(tokens)
    starts[:, 1:] = torch.where(tokens[:, :-1] == eos_id, index[:, 1:], 0)
    return index - starts.cummax(dim=1).values


def document_mask(positions: torch.Tensor, flex: bool = False):
    """Causal attention within each document: query i sees key j iff i - positions[i] <= j <= i.

    A boolean (batch, 1, seq, seq) mask for SDPA, or with `flex` a FlexAttention BlockMask (whose
    kernel skips the blocks the mask empties; the GPU path)."""
    if flex:
        return _flex_document_mask(positions)
    seq = positions.shape[1]
    index = torch.arange(seq, device=positions.device)
    keys, queries = index.view(1, 1, seq), index.view(1, seq, 1)
    return ((keys <= queries) & (keys >= queries - positions.unsqueeze(-1))).unsqueeze(1)


@torch.compiler.disable
def _flex_document_mask(positions: torch.Tensor):
    """Built eagerly even inside a compiled block (as torchtitan does), then passed in as data."""
    from torch.nn.attention.flex_attention import create_block_mask

    def same_document(b, h, q, k):
        return (k <= q) & (k >= q - positions[b, q])
    batch, seq = positions.shape
    return create_block_mask(same_document, batch, None, seq, seq, device=positions.device)


_HAS_FLEX = importlib.util.find_spec("torch.nn.attention.flex_attention") is not None


def use_flex(positions: torch.Tensor) -> bool:
    """FlexAttention for document masks on CUDA (a fused kernel that skips masked-out blocks);
    SDPA with a boolean mask elsewhere (FlexAttention on CPU materialises the scores) and on
    torch builds without it."""
    return positions.is_cuda and _HAS_FLEX


@functools.cache
def _compiled_flex_attention():
    """FlexAttention is only fused when compiled (eager materialises the scores); compiled once."""
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask, causal: bool = True) -> torch.Tensor:
    """Scaled dot-product attention; k/v may hold fewer (grouped-query) heads, which the kernels
    share without copying them. `mask`: None (plain causal, or none at all when not `causal`),
    a boolean SDPA mask or a FlexAttention BlockMask (`document_mask`)."""
    gqa = k.shape[1] != q.shape[1]
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=gqa)
    if isinstance(mask, torch.Tensor):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
    from torch.nn.attention.flex_attention import flex_attention

    flex = _compiled_flex_attention() if q.is_cuda else flex_attention
    return flex(q, k, v, block_mask=mask, enable_gqa=gqa)


class Attention(nn.Module):
    fused_rotary = None  # a fused kernel (q, k, cos, sin) -> (q, k), set by pipeline.kernels.use_liger

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.kv_heads, cfg.head_dim
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * cfg.head_dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.kv_heads * cfg.head_dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.kv_heads * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask=None,
                kv_cache: dict | None = None) -> torch.Tensor:
        batch, seq, _ = x.shape
        # Head counts come from the weights, so a tensor-parallel shard of this module (fewer
        # heads per rank) runs the same code.
        n_heads = self.wq.weight.shape[0] // self.head_dim
        n_kv = self.wk.weight.shape[0] // self.head_dim
        q = self.wq(x).view(batch, seq, n_heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(batch, seq, n_kv, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(batch, seq, n_kv, self.head_dim).transpose(1, 2)
        if self.fused_rotary is not None:
            q, k = self.fused_rotary(q, k, cos, sin)
        else:
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        cached = bool(kv_cache)
        if kv_cache is not None:
            if cached:
                k = torch.cat((kv_cache["k"], k), dim=2)
                v = torch.cat((kv_cache["v"], v), dim=2)
            kv_cache["k"], kv_cache["v"] = k, v
        # A cached decode step (one new query over all past keys) needs no causal mask.
        out = attend(q, k, v, mask, causal=not cached)
        return self.wo(out.transpose(1, 2).reshape(batch, seq, n_heads * self.head_dim))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""
    fused = None         # a fused kernel (gate, up) -> silu(gate) * up, set by pipeline.kernels.use_liger

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)
        self.w3 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)
        self.w2 = nn.Linear(cfg.hidden_dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return self.w2(self.fused(self.w1(x), self.w3(x)))
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    """One pre-norm block. `cos`/`sin` come from the model's `Rotary`, `mask` from `document_mask`
    (None: plain causal attention); both are computed once per forward, not per block."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.feed_forward = FeedForward(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask=None,
                kv_cache: dict | None = None) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), cos, sin, mask, kv_cache)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    fused_linear_cross_entropy = None   # (h, head weight, targets) -> loss, set by pipeline.kernels.use_liger

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.rotary = Rotary(cfg)
        self.layers = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        self.activation_checkpointing = False
        self.apply(self._init_weights)
        # GPT-2: scale the projections that write into the residual stream by 1/sqrt(2 * layers).
        for name, param in self.named_parameters():
            if name.endswith(("wo.weight", "w2.weight")):
                nn.init.normal_(param, mean=0.0, std=cfg.init_std / math.sqrt(2 * cfg.n_layers))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=self.cfg.init_std)

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor | None = None,
                kv_caches: list[dict] | None = None, positions: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (batch, seq) -> logits (batch, seq, vocab), or the mean loss when targets are given.

        positions: (batch, seq) position of each token inside its document (`document_positions`);
        attention then stays within documents. None: one sequence per row, plain causal attention.
        """
        h = self.tok_embeddings(tokens)
        start = kv_caches[0]["k"].shape[2] if kv_caches and kv_caches[0] else 0
        cos, sin = self.rotary(tokens.shape[1], positions, start)
        mask = None if positions is None else document_mask(positions, flex=use_flex(positions))
        for i, layer in enumerate(self.layers):
            if self.activation_checkpointing and self.training:
                h = checkpoint(layer, h, cos, sin, mask, use_reentrant=False)
            else:
                h = layer(h, cos, sin, mask, kv_caches[i] if kv_caches is not None else None)
        h = self.norm(h)
        if targets is not None and self.fused_linear_cross_entropy is not None:
            return self.fused_linear_cross_entropy(h, self.output.weight, targets)
        logits = self.output(h)
        if targets is None:
            return logits
        return cross_entropy(logits, targets)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss in fp32 whatever the compute dtype."""
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))
