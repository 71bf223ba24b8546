"""Hugging Face export: transformers loads the directory offline and its logits equal ours.

Token ids come from a sentencepiece model trained here on real Chinese and English text, so the
batch looks like what the exported model will see (ids spread over the vocabulary, specials 0-3).
"""
from __future__ import annotations

import io
import json
import os

import pytest
import sentencepiece as spm
import torch
import transformers
from safetensors.torch import save_file

from common.config import dump_yaml
from dataprep.tokenizer.config import TokenizerConfig
from dataprep.tokenizer.hf_export import export_tokenizer
from pipeline import cli
from pipeline import export_hf as ex
from pipeline.config import ModelConfig
from pipeline.model import Transformer

os.environ["HF_HUB_OFFLINE"] = "1"

# 陶渊明《桃花源记》(public domain) and a modern Chinese paragraph; Lincoln's Gettysburg Address.
CHINESE = """晋太元中，武陵人捕鱼为业。缘溪行，忘路之远近。忽逢桃花林，夹岸数百步，中无杂树，芳草鲜美，落英缤纷。渔人甚异之，复前行，欲穷其林。
林尽水源，便得一山，山有小口，仿佛若有光。便舍船，从口入。初极狭，才通人。复行数十步，豁然开朗。土地平旷，屋舍俨然，有良田、美池、桑竹之属。阡陌交通，鸡犬相闻。
其中往来种作，男女衣着，悉如外人。黄发垂髫，并怡然自乐。见渔人，乃大惊，问所从来。具答之。便要还家，设酒杀鸡作食。村中闻有此人，咸来问讯。
自云先世避秦时乱，率妻子邑人来此绝境，不复出焉，遂与外人间隔。问今是何世，乃不知有汉，无论魏晋。此人一一为具言所闻，皆叹惋。
长江是中国最长的河流，全长约六千三百公里，流经青海、西藏、四川、云南、重庆、湖北、湖南、江西、安徽、江苏和上海。
长江流域气候温和，雨量充沛，是中国重要的粮食产区。沿江的城市有重庆、武汉、南京和上海，它们都是重要的工业和交通中心。
三峡工程是世界上规模最大的水利枢纽工程之一，具有防洪、发电和航运等综合效益。每年夏季，长江中下游地区常常出现梅雨天气。
"""
ENGLISH = """Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in Liberty, and dedicated to the proposition that all men are created equal.
Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived and so dedicated, can long endure. We are met on a great battle-field of that war.
We have come to dedicate a portion of that field, as a final resting place for those who here gave their lives that that nation might live. It is altogether fitting and proper that we should do this.
But, in a larger sense, we can not dedicate, we can not consecrate, we can not hallow this ground. The brave men, living and dead, who struggled here, have consecrated it, far above our poor power to add or detract.
The world will little note, nor long remember what we say here, but it can never forget what they did here.
"""
VOCAB = 800


@pytest.fixture(scope="module")
def sp_model():
    lines = [line for line in (CHINESE + ENGLISH).splitlines() if line.strip()]
    model = io.BytesIO()
    # The project tokenizer's settings (identity normalisation, no dummy prefix, byte fallback).
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=VOCAB, model_type="bpe",
        unk_id=0, bos_id=1, eos_id=2, pad_id=3, character_coverage=1.0, byte_fallback=True,
        add_dummy_prefix=False, normalization_rule_name="identity", remove_extra_whitespaces=False,
        split_digits=True, minloglevel=2)
    return spm.SentencePieceProcessor(model_proto=model.getvalue()), model.getvalue()


@pytest.fixture(scope="module")
def batch(sp_model):
    """Two rows of 48 real-text ids each, starting with BOS."""
    sp, _ = sp_model
    rows = []
    for text in (CHINESE, ENGLISH):
        ids = [TokenizerConfig().bos_id] + sp.encode(text.replace("\n", " "))
        rows.append(ids[:48])
    tokens = torch.tensor(rows)
    assert tokens.max() < VOCAB and len(set(tokens.flatten().tolist())) > 30
    return tokens


def tiny_config(**overrides) -> ModelConfig:
    # init_std 0.1 so logits are far from zero and a wrong mapping shows.
    base = dict(vocab_size=VOCAB, dim=64, n_layers=2, n_heads=4, max_seq_len=64, rope_theta=10000.0,
                init_std=0.1, norm_eps=1e-5)
    return ModelConfig(**{**base, **overrides})


def hf_logits(out_dir, tokens):
    model, info = transformers.LlamaForCausalLM.from_pretrained(out_dir, output_loading_info=True)
    assert not any(info.values()), f"missing/unexpected weights on load: {info}"
    with torch.no_grad():
        return model.eval()(tokens).logits, model


@pytest.mark.parametrize("variant", [{}, {"n_kv_heads": 2}, {"tie_embeddings": True, "n_kv_heads": 1}],
                         ids=["mha", "gqa", "tied-mqa"])
def test_logits_match_transformers(tmp_path, batch, variant):
    torch.manual_seed(7)
    cfg = tiny_config(**variant)
    ours = Transformer(cfg).eval()
    with torch.no_grad():
        expected = ours(batch)
    ex.export_hf(ours.state_dict(), tmp_path, model_config=cfg)

    got, hf = hf_logits(tmp_path, batch)
    assert expected.abs().max() > 1.0
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    assert hf.config.num_key_value_heads == cfg.kv_heads
    tied = hf.lm_head.weight.data_ptr() == hf.model.embed_tokens.weight.data_ptr()
    assert tied == cfg.tie_embeddings


def test_cli_exports_consolidated_file_with_tokenizer(tmp_path, sp_model):
    """What a user does: consolidated weights + the tokenizer's HF export -> `pretrain export-hf`,
    then transformers' own tokenizer and model from that one directory give our logits."""
    sp, model_bytes = sp_model
    torch.manual_seed(3)
    cfg = tiny_config(n_kv_heads=2)
    ours = Transformer(cfg).eval()
    ckpt = tmp_path / "consolidated"
    ckpt.mkdir()
    save_file(ours.state_dict(), str(ckpt / "model.safetensors"))
    (ckpt / "model_config.yaml").write_text(dump_yaml(cfg), encoding="utf-8")
    (tmp_path / "sp.model").write_bytes(model_bytes)
    tokenizer_dir = export_tokenizer(tmp_path / "sp.model", tmp_path / "tokenizer")

    out = tmp_path / "hf"
    assert cli.main(["export-hf", "--weights", str(ckpt / "model.safetensors"), "--out", str(out),
                     "--tokenizer", str(tokenizer_dir)]) == 0

    config = json.loads((out / "config.json").read_text())
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (1, 2, 3)
    assert config["intermediate_size"] == cfg.hidden_dim and config["vocab_size"] == VOCAB
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    texts = [CHINESE.splitlines()[4], ENGLISH.splitlines()[0]]
    ids = [hf_tokenizer.encode(text, add_special_tokens=False)[:24] for text in texts]
    assert ids == [sp.encode(text)[:24] for text in texts]
    # one rule for special-token literals in raw text: plain text, as sentencepiece and `pack` encode them
    literal = "标签 <s>、</s> 与 <unk> 只是文字 in raw text"
    assert hf_tokenizer.encode(literal, add_special_tokens=False) == sp.encode(literal)
    assert not {sp.unk_id(), sp.bos_id(), sp.eos_id()} & set(sp.encode(literal))
    tokens = torch.tensor(ids)
    with torch.no_grad():
        expected = ours(tokens)
    torch.testing.assert_close(hf_logits(out, tokens)[0], expected, rtol=0, atol=1e-4)


def test_meta_interleaved_rotary_would_not_match(tmp_path, batch):
    """Control: the comparison is sharp enough to catch Meta's interleaved q/k layout."""
    torch.manual_seed(5)
    cfg = tiny_config()
    ours = Transformer(cfg).eval()
    state = ours.state_dict()
    head = cfg.head_dim
    # Meta -> HF permutation of q rows: what a converter from interleaved rotary would apply.
    perm = torch.arange(cfg.dim).view(cfg.n_heads, head // 2, 2).transpose(1, 2).reshape(-1)
    state["layers.0.attention.wq.weight"] = state["layers.0.attention.wq.weight"][perm]
    ex.export_hf(state, tmp_path, model_config=cfg)
    with torch.no_grad():
        expected = ours(batch)
    assert (hf_logits(tmp_path, batch)[0] - expected).abs().max() > 1e-2


def test_bad_inputs_are_named(tmp_path):
    cfg = tiny_config()
    state = Transformer(cfg).state_dict()
    with pytest.raises(ex.ModelExportError, match="missing tensor 'layers.0.attention.wq.weight'"):
        ex.export_hf({k: v for k, v in state.items() if "layers.0.attention.wq" not in k}, tmp_path,
                     model_config=cfg)
    wrong_shape = r"layers.0.feed_forward.w1.weight has shape \(192, 64\), the model config implies \(64, 64\)"
    with pytest.raises(ex.ModelExportError, match=wrong_shape):
        ex.export_hf(state, tmp_path, model_config=tiny_config(ffn_hidden=64))
    with pytest.raises(ex.ModelExportError, match="unexpected tensor 'layers.2"):
        ex.export_hf(Transformer(tiny_config(n_layers=3)).state_dict(), tmp_path, model_config=cfg)
    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    (tok_dir / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"a": 0, "b": VOCAB}}}))
    with pytest.raises(ex.ModelExportError, match=f"token id {VOCAB} does not fit"):
        ex.export_hf(state, tmp_path / "out", tokenizer_dir=tok_dir, model_config=cfg)
    assert not (tmp_path / "out" / "config.json").exists()
    garbage = tmp_path / "bad" / "model.safetensors"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not safetensors")
    (garbage.parent / "model_config.yaml").write_text(dump_yaml(cfg))
    with pytest.raises(ex.ModelExportError, match="not a readable safetensors file"):
        ex.export_hf(garbage, tmp_path / "out2")


def test_bfloat16_export_stays_close(tmp_path, batch):
    torch.manual_seed(11)
    cfg = tiny_config()
    ours = Transformer(cfg).eval()
    ex.export_hf(ours.state_dict(), tmp_path, model_config=cfg, dtype="bfloat16")
    assert json.loads((tmp_path / "config.json").read_text())["torch_dtype"] == "bfloat16"
    got, hf = hf_logits(tmp_path, batch)
    assert hf.dtype == torch.bfloat16
    with torch.no_grad():
        expected = ours(batch)
    # bf16 weights and compute: close, not equal (8 mantissa bits).
    assert (got.float() - expected).abs().max() < 0.05 * expected.abs().max()


def test_special_token_ids_come_from_the_tokenizer(tmp_path):
    """config.json carries the shipped tokenizer's ids, not fixed numbers; defaults without one."""
    lines = [line for line in (CHINESE + ENGLISH).splitlines() if line.strip()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, vocab_size=VOCAB,
                                   model_type="bpe", unk_id=3, bos_id=0, eos_id=1, pad_id=-1, byte_fallback=True,
                                   character_coverage=1.0, minloglevel=2)
    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    (tok_dir / "tokenizer.model").write_bytes(model.getvalue())
    cfg = tiny_config()
    ex.export_hf(Transformer(cfg).state_dict(), tmp_path / "out", tokenizer_dir=tok_dir, model_config=cfg)
    for name in ("config.json", "generation_config.json"):
        written = json.loads((tmp_path / "out" / name).read_text())
        assert (written["bos_token_id"], written["eos_token_id"]) == (0, 1) and "pad_token_id" not in written
    defaults = TokenizerConfig()
    assert ex.special_token_ids(None) == {"bos_token_id": defaults.bos_id, "eos_token_id": defaults.eos_id,
                                          "pad_token_id": defaults.pad_id}
