"""A Llama-style decoder-only Transformer, whole, in one file.

Token embedding -> N x [RMSNorm -> causal self-attention with rotary positions (grouped-query
heads optional) -> residual; RMSNorm -> SwiGLU MLP -> residual] -> RMSNorm -> output head.

Parameter names follow Meta's Llama (tok_embeddings, layers.i.attention.wq, feed_forward.w1 ...)
so tensor-parallel partition rules and the Hugging Face export are plain name maps. Rotary
embedding uses the "rotate half" layout that Hugging Face's Llama uses, so exported weights need
no permutation. Parallelism is applied to this plain model by functions in `pipeline/parallel/`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from pipeline.config import ModelConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_float = x.float()
        normed = x_float * torch.rsqrt(x_float.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def rotary_cos_sin(seq_len: int, head_dim: int, theta: float, device: torch.device,
                   dtype: torch.dtype, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables (seq, head_dim) for positions start..start+seq_len-1, rotate-half layout."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    positions = torch.arange(start, start + seq_len, device=device, dtype=torch.float32)
    angles = torch.outer(positions, inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (batch, heads, seq, head_dim)."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.kv_heads, cfg.head_dim
        self.rope_theta = cfg.rope_theta
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * cfg.head_dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.kv_heads * cfg.head_dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.kv_heads * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor, kv_cache: dict | None = None) -> torch.Tensor:
        batch, seq, _ = x.shape
        # Head counts come from the weights, so a tensor-parallel shard of this module (fewer
        # heads per rank) runs the same code.
        n_heads = self.wq.weight.shape[0] // self.head_dim
        n_kv = self.wk.weight.shape[0] // self.head_dim
        q = self.wq(x).view(batch, seq, n_heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(batch, seq, n_kv, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(batch, seq, n_kv, self.head_dim).transpose(1, 2)
        start = kv_cache["k"].shape[2] if kv_cache else 0
        cos, sin = rotary_cos_sin(seq, self.head_dim, self.rope_theta, x.device, q.dtype, start)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if kv_cache is not None:
            if "k" in kv_cache:
                k = torch.cat((kv_cache["k"], k), dim=2)
                v = torch.cat((kv_cache["v"], v), dim=2)
            kv_cache["k"], kv_cache["v"] = k, v
        if n_kv != n_heads:
            k = k.repeat_interleave(n_heads // n_kv, dim=1)
            v = v.repeat_interleave(n_heads // n_kv, dim=1)
        # A cached decode step (one new query over all past keys) needs no causal mask.
        causal = start == 0
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.wo(out.transpose(1, 2).reshape(batch, seq, n_heads * self.head_dim))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)
        self.w3 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)
        self.w2 = nn.Linear(cfg.hidden_dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.feed_forward = FeedForward(cfg)

    def forward(self, x: torch.Tensor, kv_cache: dict | None = None) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), kv_cache)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
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
                kv_caches: list[dict] | None = None) -> torch.Tensor:
        """tokens (batch, seq) -> logits (batch, seq, vocab), or the mean loss when targets are given."""
        h = self.tok_embeddings(tokens)
        for i, layer in enumerate(self.layers):
            if self.activation_checkpointing and self.training:
                h = checkpoint(layer, h, use_reentrant=False)
            else:
                h = layer(h, kv_caches[i] if kv_caches is not None else None)
        logits = self.output(self.norm(h))
        if targets is None:
            return logits
        return cross_entropy(logits, targets)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss in fp32 whatever the compute dtype."""
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))
