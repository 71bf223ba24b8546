"""`pretrain export-hf`: turn our consolidated weights into a Hugging Face Llama directory.

Input is the consolidated checkpoint (`model.safetensors` with our parameter names, fp32, and
`model_config.yaml` beside it) or, from Python, a state dict plus its `ModelConfig`. Output is a
directory that `transformers.LlamaForCausalLM.from_pretrained` loads as is: `config.json`,
`generation_config.json`, `model.safetensors` with Hugging Face names, and the tokenizer files
copied from the tokenizer's HF export when one is given.

Our model uses Hugging Face's "rotate half" rotary layout, so the export is a pure rename: no
q/k permutation. `config.json` is written last, so a directory holding it is complete.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from common.atomic import fsync_dir, give_default_mode, tmp_path_for, write_json
from common.config import ConfigError, load_config
from dataprep.tokenizer.config import TokenizerConfig
from pipeline.config import ModelConfig

# Files of the exported model itself; a tokenizer directory may not overwrite them.
MODEL_FILES = {"config.json", "generation_config.json", "model.safetensors"}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

_LAYER_NAMES = {
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "attention_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
}


class ModelExportError(ValueError):
    """The weights or tokenizer cannot become a valid Hugging Face model; the message says why."""


def hf_name(name: str) -> str:
    """Our parameter name -> Hugging Face Llama's."""
    if name == "tok_embeddings.weight":
        return "model.embed_tokens.weight"
    if name == "norm.weight":
        return "model.norm.weight"
    if name == "output.weight":
        return "lm_head.weight"
    parts = name.split(".", 2)
    if len(parts) == 3 and parts[0] == "layers" and parts[1].isdigit() and parts[2] in _LAYER_NAMES:
        return f"model.layers.{parts[1]}.{_LAYER_NAMES[parts[2]]}"
    raise ModelExportError(f"parameter {name!r} has no Hugging Face Llama counterpart")


def expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor `Transformer(cfg)` has, by our name (the output head only when untied)."""
    dim, head, hidden = cfg.dim, cfg.head_dim, cfg.hidden_dim
    shapes: dict[str, tuple[int, ...]] = {"tok_embeddings.weight": (cfg.vocab_size, dim), "norm.weight": (dim,)}
    if not cfg.tie_embeddings:
        shapes["output.weight"] = (cfg.vocab_size, dim)
    per_layer = {
        "attention.wq.weight": (cfg.n_heads * head, dim),
        "attention.wk.weight": (cfg.kv_heads * head, dim),
        "attention.wv.weight": (cfg.kv_heads * head, dim),
        "attention.wo.weight": (dim, cfg.n_heads * head),
        "feed_forward.w1.weight": (hidden, dim),
        "feed_forward.w3.weight": (hidden, dim),
        "feed_forward.w2.weight": (dim, hidden),
        "attention_norm.weight": (dim,),
        "ffn_norm.weight": (dim,),
    }
    for i in range(cfg.n_layers):
        shapes.update({f"layers.{i}.{key}": shape for key, shape in per_layer.items()})
    return shapes


def to_hf_state_dict(state: Mapping[str, torch.Tensor], cfg: ModelConfig, source: str = "state dict",
                     dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Check names and shapes against `cfg` and rename; a tied head is stored once (HF ties on load)."""
    state = dict(state)
    if cfg.tie_embeddings and "output.weight" in state:
        head = state.pop("output.weight")
        if not torch.equal(head, state.get("tok_embeddings.weight", head)):
            raise ModelExportError(f"{source}: model.tie_embeddings is true but output.weight differs from "
                              f"tok_embeddings.weight")
    expected = expected_shapes(cfg)
    missing = [name for name in expected if name not in state]
    if missing:
        raise ModelExportError(f"{source}: missing tensor {missing[0]!r} ({len(missing)} missing in all); "
                          f"does the model config match these weights?")
    unknown = [name for name in state if name not in expected]
    if unknown:
        raise ModelExportError(f"{source}: unexpected tensor {unknown[0]!r} for a {cfg.n_layers}-layer model "
                          f"(tie_embeddings={cfg.tie_embeddings})")
    out = {}
    for name, shape in expected.items():
        tensor = state[name]
        if tuple(tensor.shape) != shape:
            raise ModelExportError(f"{source}: {name} has shape {tuple(tensor.shape)}, "
                                   f"the model config implies {shape}")
        out[hf_name(name)] = tensor.detach().to("cpu", dtype).contiguous()
    return out


def special_token_ids(tokenizer_dir: str | Path | None) -> dict[str, int]:
    """bos/eos/pad ids for config.json: the exported tokenizer's own (its sentencepiece model), or
    the tokenizer config's defaults when none is given. An id the tokenizer disables (-1) is left out."""
    model_file = Path(tokenizer_dir) / "tokenizer.model" if tokenizer_dir is not None else None
    if model_file is not None and model_file.is_file():
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(model_file))
        ids = {"bos_token_id": sp.bos_id(), "eos_token_id": sp.eos_id(), "pad_token_id": sp.pad_id()}
    else:
        defaults = TokenizerConfig()
        ids = {"bos_token_id": defaults.bos_id, "eos_token_id": defaults.eos_id, "pad_token_id": defaults.pad_id}
    return {key: value for key, value in ids.items() if value >= 0}


def hf_config(cfg: ModelConfig, special_ids: dict[str, int], dtype: str = "float32") -> dict:
    """LlamaConfig fields; rope_theta is written both the transformers 4 and 5 ways."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": cfg.dim,
        "intermediate_size": cfg.hidden_dim,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.kv_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "max_position_embeddings": cfg.max_seq_len,
        "vocab_size": cfg.vocab_size,
        "tie_word_embeddings": cfg.tie_embeddings,
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": cfg.init_std,
        **special_ids,
        "torch_dtype": dtype,
        "use_cache": True,
    }


def read_consolidated(weights: str | Path, model_config: ModelConfig | None = None
                      ) -> tuple[dict[str, torch.Tensor], ModelConfig]:
    """The checkpoint code's consolidated file and its config (`model_config.yaml` beside it by default)."""
    weights = Path(weights)
    if not weights.is_file():
        raise ModelExportError(f"weights file not found: {weights}")
    config_path = weights.parent / "model_config.yaml"
    if model_config is None and not config_path.is_file():
        raise ModelExportError(f"{weights}: no model_config.yaml beside it; pass the model config explicitly")
    cfg = model_config or load_config(ModelConfig, config_path)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise ModelExportError(f"{weights}: not a readable safetensors file ({exc})") from None
    return state, cfg


def tokenizer_files(tokenizer_dir: str | Path, vocab_size: int) -> list[Path]:
    """The tokenizer export's files, after checking its ids fit the embedding table."""
    tokenizer_dir = Path(tokenizer_dir)
    if not tokenizer_dir.is_dir():
        raise ModelExportError(f"tokenizer directory not found: {tokenizer_dir}")
    files = sorted(p for p in tokenizer_dir.iterdir() if p.is_file() and p.name not in MODEL_FILES)
    if not files:
        raise ModelExportError(f"{tokenizer_dir}: no tokenizer files in it")
    tokenizer_json = tokenizer_dir / "tokenizer.json"
    if tokenizer_json.is_file():
        largest = _largest_token_id(tokenizer_json)
        if largest >= vocab_size:
            raise ModelExportError(f"{tokenizer_json}: token id {largest} does not fit the model's vocab_size {vocab_size}")
    return files


def _largest_token_id(tokenizer_json: Path) -> int:
    try:
        spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
        vocab = spec.get("model", {}).get("vocab", {})
        ids = list(vocab.values()) if isinstance(vocab, dict) else list(range(len(vocab)))
        ids += [token["id"] for token in spec.get("added_tokens", [])]
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, KeyError, TypeError) as exc:
        raise ModelExportError(f"{tokenizer_json}: not a tokenizers JSON file ({exc!r})") from None
    return max(ids, default=-1)


def _save_safetensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = tmp_path_for(path)
    try:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
        give_default_mode(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def _copy_file(src: Path, dst: Path) -> None:
    tmp = tmp_path_for(dst)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def export_hf(weights: str | Path | Mapping[str, torch.Tensor], out_dir: str | Path,
              tokenizer_dir: str | Path | None = None, model_config: ModelConfig | None = None,
              dtype: str = "float32") -> Path:
    """Write a Hugging Face Llama directory; returns its path.

    `weights` is a consolidated `model.safetensors` path (config read from the
    `model_config.yaml` beside it unless `model_config` is given) or a state dict with our names.
    """
    if dtype not in DTYPES:
        raise ModelExportError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if isinstance(weights, Mapping):
        if model_config is None:
            raise ModelExportError("a state dict needs its model_config")
        state, cfg, source = dict(weights), model_config, "state dict"
    else:
        (state, cfg), source = read_consolidated(weights, model_config), str(weights)
    cfg.validate()
    hf_state = to_hf_state_dict(state, cfg, source, DTYPES[dtype])
    copies = tokenizer_files(tokenizer_dir, cfg.vocab_size) if tokenizer_dir is not None else []
    special_ids = special_token_ids(tokenizer_dir)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").unlink(missing_ok=True)   # the directory is incomplete until written again
    _save_safetensors(hf_state, out / "model.safetensors")
    for src in copies:
        _copy_file(src, out / src.name)
    write_json(out / "generation_config.json", special_ids)
    write_json(out / "config.json", hf_config(cfg, special_ids, dtype))
    return out


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export-hf", help="export consolidated weights as a Hugging Face Llama model",
        description="Write config.json, model.safetensors (Hugging Face names) and the tokenizer files into a "
                    "directory that transformers.LlamaForCausalLM.from_pretrained loads.")
    parser.add_argument("--weights", required=True,
                        help="consolidated model.safetensors (model_config.yaml beside it is read)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--tokenizer", help="the tokenizer (its directory; the Hugging Face files of its hf/ are copied in)")
    parser.add_argument("--model-config", help="model YAML to use instead of the model_config.yaml beside the weights")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="dtype of the saved weights")
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from dataprep.tokenizer.files import hf_directory

    try:
        cfg = load_config(ModelConfig, args.model_config) if args.model_config else None
        tokenizer = hf_directory(args.tokenizer) if args.tokenizer else None
        out = export_hf(args.weights, args.out, tokenizer, cfg, args.dtype)
    except (ModelExportError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"exported Hugging Face Llama model to {out}")
    return 0
