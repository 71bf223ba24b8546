"""The model's attention: rotary tables built once, grouped-query attention without K/V copies
(both equal to the formulation they replaced), and document-aware attention in packed samples."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import pipeline.model as model_module
from pipeline.config import ModelConfig
from pipeline.model import Transformer, attend, document_mask, document_positions

EOS = 2
GQA = ModelConfig(vocab_size=300, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=64)


def old_forward(model: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    """Logits as the model computed them before: rotary tables recomputed in every layer's forward,
    K/V heads copied with repeat_interleave for grouped-query attention."""
    cfg = model.cfg
    seq = tokens.shape[1]
    h = model.tok_embeddings(tokens)
    for layer in model.layers:
        attn = layer.attention
        x = layer.attention_norm(h)
        q = attn.wq(x).view(x.shape[0], seq, cfg.n_heads, cfg.head_dim).transpose(1, 2)
        k = attn.wk(x).view(x.shape[0], seq, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        v = attn.wv(x).view(x.shape[0], seq, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2, dtype=torch.float32) / cfg.head_dim))
        angles = torch.outer(torch.arange(seq, dtype=torch.float32), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        cos, sin = angles.cos(), angles.sin()
        half = cfg.head_dim // 2
        q = q * cos + torch.cat((-q[..., half:], q[..., :half]), dim=-1) * sin
        k = k * cos + torch.cat((-k[..., half:], k[..., :half]), dim=-1) * sin
        k = k.repeat_interleave(cfg.n_heads // cfg.kv_heads, dim=1)
        v = v.repeat_interleave(cfg.n_heads // cfg.kv_heads, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        h = h + attn.wo(out.transpose(1, 2).reshape(x.shape[0], seq, -1))
        h = h + layer.feed_forward(layer.ffn_norm(h))
    return model.output(model.norm(h))


@pytest.mark.parametrize("kv_heads", [2, 4])
def test_forward_and_gradients_equal_the_old_formulation(kv_heads):
    torch.manual_seed(0)
    cfg = ModelConfig(**{**GQA.__dict__, "n_kv_heads": kv_heads})
    model = Transformer(cfg)
    tokens = torch.randint(3, cfg.vocab_size, (3, 40))
    new, old = model(tokens), old_forward(model, tokens)
    assert (new - old).abs().max().item() < 1e-5
    grads = []
    for logits in (model(tokens), old_forward(model, tokens)):
        model.zero_grad()
        logits.square().mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for got, expected in zip(*grads):
        assert (got - expected).abs().max().item() <= 1e-5 * expected.abs().max().item()


def test_rotary_table_is_built_once_not_per_forward(monkeypatch):
    model = Transformer(GQA)

    def refuse(*args, **kwargs):
        raise AssertionError("rotary table recomputed during forward")
    monkeypatch.setattr(model_module, "rotary_table", refuse)
    model(torch.randint(3, GQA.vocab_size, (2, 16)))
    assert "rotary.cos" not in model.state_dict()        # not a checkpointed tensor


def test_grouped_query_attention_does_not_copy_keys_and_values(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("K/V copied")
    monkeypatch.setattr(torch.Tensor, "repeat_interleave", refuse)
    Transformer(GQA)(torch.randint(3, GQA.vocab_size, (2, 16))).sum().backward()


def test_document_positions_restart_after_each_eos():
    tokens = torch.tensor([[5, 6, EOS, 7, 8, 9, EOS, EOS, 4],
                           [5, 6, 7, 8, 9, 10, 11, 12, 13]])
    assert document_positions(tokens, EOS).tolist() == [[0, 1, 2, 0, 1, 2, 3, 0, 0],
                                                        [0, 1, 2, 3, 4, 5, 6, 7, 8]]


def packed(prefix: list[int], document: list[int]) -> torch.Tensor:
    return torch.tensor([prefix + [EOS] + document])


def test_a_token_does_not_see_the_previous_document():
    """The logits of the second document in a packed sample are those of the document alone at
    position 0, whatever document came before it; without the mask they change."""
    torch.manual_seed(0)
    model = Transformer(GQA).eval()
    document = [11, 12, 13, 14, 15, 16]
    first, other = packed([20, 21, 22, 23], document), packed([90, 91, 92, 93], document)
    alone = model(torch.tensor([document]))

    def logits(tokens: torch.Tensor, masked: bool) -> torch.Tensor:
        positions = document_positions(tokens, EOS) if masked else None
        return model(tokens, positions=positions)[0, -len(document):]
    assert torch.allclose(logits(first, True), alone[0], atol=1e-5)
    assert torch.allclose(logits(first, True), logits(other, True), atol=1e-5)
    assert (logits(first, False) - logits(other, False)).abs().max() > 1e-2


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_flex_attention_document_mask_equals_the_dense_mask():
    """The GPU path (FlexAttention BlockMask) computes the same attention as SDPA with the boolean
    mask; run here with FlexAttention's eager implementation."""
    pytest.importorskip("torch.nn.attention.flex_attention")
    torch.manual_seed(0)
    tokens = torch.randint(3, 50, (2, 32))
    tokens[0, [5, 20]] = EOS
    tokens[1, 9] = EOS
    positions = document_positions(tokens, EOS)
    q, k, v = torch.randn(2, 4, 32, 16), torch.randn(2, 2, 32, 16), torch.randn(2, 2, 32, 16)
    dense = attend(q, k, v, document_mask(positions))
    flex = attend(q, k, v, document_mask(positions, flex=True))
    assert (dense - flex).abs().max().item() < 1e-5
    assert (dense - attend(q, k, v, None)).abs().max().item() > 1e-2


def train_losses(model: Transformer, steps: int) -> list[float]:
    """AdamW on arithmetic sequences (learnable), two documents per sample."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(steps):
        start = torch.randint(3, GQA.vocab_size, (4, 1), generator=generator)
        batch = (start + 3 * torch.arange(33)) % GQA.vocab_size
        batch[:, 10] = EOS
        inputs = batch[:, :-1]
        loss = model(inputs, batch[:, 1:], positions=document_positions(inputs, EOS))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


@pytest.mark.slow
def test_compiled_blocks_train_like_eager():
    """train.compile: every block compiled in place (same parameter names), the same losses as eager
    within fp32 reordering noise over 20 AdamW steps. Slow: inductor compiles forward and backward
    (~40 s on 2 cores, less once its cache in /tmp is warm)."""
    from pipeline.kernels import compile_blocks

    torch.manual_seed(0)
    eager = Transformer(GQA)
    compiled = Transformer(GQA)
    compiled.load_state_dict(eager.state_dict())
    assert compile_blocks(compiled) == GQA.n_layers
    assert all(layer._compiled_call_impl is not None for layer in compiled.layers)
    assert list(compiled.state_dict()) == list(eager.state_dict())
    got, expected = train_losses(compiled, 20), train_losses(eager, 20)
    assert got == pytest.approx(expected, rel=1e-5)
    assert expected[-1] < expected[0] - 1.0
