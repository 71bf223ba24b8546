"""Sampling: KV-cached decoding equals full recomputation, sampling knobs behave, the CLI runs end to end."""
from __future__ import annotations

import pytest
import sentencepiece as spm
import torch

from pipeline.checkpoint import write_consolidated
from pipeline.generate import generate, load_model, main, pick_token
from pipeline.config import ModelConfig
from pipeline.model import Transformer

CFG = ModelConfig(vocab_size=300, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=48)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Transformer(CFG).eval()


def test_cached_decoding_matches_recomputing_the_whole_sequence(model):
    prompt = [5, 17, 42, 7]
    for kwargs in ({"temperature": 0.0}, {"temperature": 1.0, "top_k": 20, "top_p": 0.9, "seed": 3}):
        cached = generate(model, prompt, 30, use_cache=True, **kwargs)
        full = generate(model, prompt, 30, use_cache=False, **kwargs)
        assert cached == full and len(cached) == 30


def test_generation_stops_at_context_length_and_eos(model):
    out = generate(model, list(range(3, 43)), 100, temperature=0.0)
    assert len(out) == CFG.max_seq_len - 40
    first = generate(model, [5, 6], 5, temperature=0.0)[0]
    assert generate(model, [5, 6], 5, temperature=0.0, eos_id=first) == []


def test_sampling_knobs():
    logits = torch.tensor([0.0, 3.0, 2.9, -1.0, 1.0])
    gen = torch.Generator().manual_seed(0)
    assert pick_token(logits, 0.0, 0, 1.0, gen) == 1
    assert {pick_token(logits, 1.0, 1, 1.0, gen) for _ in range(20)} == {1}          # top-k 1 = greedy
    assert {pick_token(logits, 1.0, 0, 0.3, gen) for _ in range(20)} == {1}          # tiny nucleus = greedy
    assert {pick_token(logits, 5.0, 2, 1.0, gen) for _ in range(200)} == {1, 2}      # only the top 2
    seen = {pick_token(logits, 100.0, 0, 1.0, gen) for _ in range(400)}
    assert seen == {0, 1, 2, 3, 4}                                                   # hot: everything


def test_cli_samples_from_a_consolidated_model(model, tmp_path, capsys):
    lines = [f"the quick brown fox {i} jumps over the lazy dog 人工智能 {i * 7}" for i in range(200)]
    (tmp_path / "text.txt").write_text("\n".join(lines), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(tmp_path / "text.txt"), model_prefix=str(tmp_path / "tok"),
                                   vocab_size=120, model_type="bpe", eos_id=2, bos_id=1, unk_id=0,
                                   minloglevel=2)
    write_consolidated(tmp_path / "model" / "model.safetensors", model.state_dict(), CFG, "test")
    reloaded = load_model(tmp_path / "model")
    assert all(torch.equal(a, b) for a, b in zip(reloaded.state_dict().values(), model.state_dict().values()))

    args = ["--checkpoint", str(tmp_path / "model"), "--tokenizer", str(tmp_path / "tok.model"),
            "--prompt", "the quick", "--max-new-tokens", "12", "--seed", "5", "--output", str(tmp_path / "s.txt")]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("the quick") and (tmp_path / "s.txt").read_text().strip() == first.strip()
    assert main(args) == 0 and capsys.readouterr().out == first          # same seed, same text
    assert main([*args[:-2], "--tokenizer", str(tmp_path / "missing.model")]) == 2
