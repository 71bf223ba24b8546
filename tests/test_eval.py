"""`pretrain eval`: lm-evaluation-harness scores a tiny checkpoint on the bundled zh/en tasks, offline."""
from __future__ import annotations

import io
import json

import pytest
import sentencepiece as spm
import torch
from safetensors.torch import save_file
from test_export_hf import CHINESE, ENGLISH, VOCAB

from common.config import dump_yaml
from dataprep.tokenizer.hf_export import export_tokenizer
from pipeline import cli
from pipeline.config import ModelConfig
from pipeline.evaluate import BUNDLED, TASKS_DIR
from pipeline.model import Transformer

pytest.importorskip("lm_eval")


def tiny_checkpoint(tmp_path):
    """A consolidated checkpoint of a small random model and a real (tiny) sentencepiece tokenizer."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([line for line in (CHINESE + ENGLISH).splitlines() if line.strip()]),
        model_writer=model, vocab_size=VOCAB, model_type="bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=3,
        character_coverage=1.0, byte_fallback=True, add_dummy_prefix=False, normalization_rule_name="identity",
        remove_extra_whitespaces=False, minloglevel=2)
    (tmp_path / "sp.model").write_bytes(model.getvalue())
    tokenizer = export_tokenizer(tmp_path / "sp.model", tmp_path / "tokenizer")
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=VOCAB, dim=32, n_layers=2, n_heads=2, max_seq_len=128)
    ckpt = tmp_path / "step-00000010"
    ckpt.mkdir()
    save_file(Transformer(cfg).state_dict(), str(ckpt / "model.safetensors"))
    (ckpt / "model_config.yaml").write_text(dump_yaml(cfg), encoding="utf-8")
    return ckpt, tokenizer


@pytest.mark.slow
def test_bundled_tasks_give_the_same_accuracy_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ckpt, tokenizer = tiny_checkpoint(tmp_path)
    assert cli.main(["eval", str(ckpt), "--tokenizer", str(tokenizer)]) == 0
    first = json.loads((ckpt / "eval" / "results.json").read_text(encoding="utf-8"))
    assert set(first["tasks"]) == set(BUNDLED) and (ckpt / "hf" / "config.json").is_file()
    for task in BUNDLED:
        items = len((TASKS_DIR / f"{task}.jsonl").read_text(encoding="utf-8").splitlines())
        acc = first["tasks"][task]["acc"]
        assert 0.0 <= acc <= 1.0 and (acc * items) == pytest.approx(round(acc * items))   # a share of the items
    assert cli.main(["eval", str(ckpt / "hf")]) == 0                         # the export directly, a second run
    second = json.loads((ckpt / "hf" / "eval" / "results.json").read_text(encoding="utf-8"))
    assert second["tasks"] == first["tasks"]


def test_eval_errors_name_what_is_missing(tmp_path, capsys):
    assert cli.main(["eval", str(tmp_path)]) == 2
    assert "neither a Hugging Face export (config.json) nor a consolidated checkpoint" in capsys.readouterr().err
    ckpt, _ = tiny_checkpoint(tmp_path)
    assert cli.main(["eval", str(ckpt)]) == 2
    assert "give --tokenizer DIR" in capsys.readouterr().err
