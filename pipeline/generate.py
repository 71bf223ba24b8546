"""Sampling from a trained model: `pretrain generate --checkpoint ... --tokenizer tok.model --prompt ...`.

`--checkpoint` takes a run dir (its latest complete checkpoint), one checkpoint dir, a directory
holding `model.safetensors` + `model_config.yaml` (what `pretrain consolidate` writes) or the
`.safetensors` file itself. Decoding uses the model's per-layer KV caches, so each new token costs
one position. The prompt is preceded by the end-of-sequence id: in training every document starts
right after one, so that is what "start of a document" looks like to the model.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from common.atomic import write_text
from common.config import ConfigError, load_config
from pipeline.checkpoint import CONSOLIDATED, fp32_state_dict, resolve_checkpoint
from pipeline.config import ModelConfig
from pipeline.model import Transformer


def load_model(path: str | Path) -> Transformer:
    path = Path(path)
    if path.is_dir() and (path / CONSOLIDATED).is_file() and (path / "model_config.yaml").is_file():
        path = path / CONSOLIDATED
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        if not path.is_file():
            raise ConfigError(f"{path}: no such weights file")
        model_cfg = load_config(ModelConfig, path.parent / "model_config.yaml")
        weights = load_file(path)
    else:
        weights, model_cfg = fp32_state_dict(resolve_checkpoint(path))
    model = Transformer(model_cfg)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ConfigError(f"{path}: weights do not fit the model config "
                          f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval()


def pick_token(logits: torch.Tensor, temperature: float, top_k: int, top_p: float,
               generator: torch.Generator) -> int:
    """One id from a (vocab,) logits row: greedy at temperature 0, else top-k then nucleus (top-p) sampling."""
    if temperature <= 0:
        return int(logits.argmax())
    logits = logits.float() / temperature
    if 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if 0 < top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # drop a token when the ones before it already reach top_p (the first one always stays)
        drop = cumulative - sorted_logits.softmax(-1) >= top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
    return int(torch.multinomial(logits.softmax(-1), 1, generator=generator))


@torch.no_grad()
def generate(model: Transformer, prompt: list[int], max_new_tokens: int, temperature: float = 0.8,
             top_k: int = 50, top_p: float = 0.95, seed: int = 0, eos_id: int | None = None,
             use_cache: bool = True, vocab_limit: int | None = None) -> list[int]:
    """New token ids after `prompt` (stops at eos_id or the model's context length).

    vocab_limit: ids at or above it are never produced (a model vocabulary padded beyond the tokenizer's).
    """
    limit = model.cfg.max_seq_len
    tokens = list(prompt[-(limit - 1):]) if len(prompt) >= limit else list(prompt)
    generator = torch.Generator().manual_seed(seed)
    caches = [{} for _ in model.layers] if use_cache else None
    fresh = tokens
    out: list[int] = []
    while len(out) < max_new_tokens and len(tokens) < limit:
        logits = model(torch.tensor([fresh]), kv_caches=caches)[0, -1, :vocab_limit]
        token = pick_token(logits, temperature, top_k, top_p, generator)
        if token == eos_id:
            break
        out.append(token)
        tokens.append(token)
        fresh = [token] if use_cache else tokens
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="run dir, checkpoint dir, consolidated dir or model.safetensors")
    parser.add_argument("--tokenizer", required=True, help="the tokenizer: its directory or tokenizer.model")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--max-new-tokens", type=int, default=100)
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    parser.add_argument("--top-k", type=int, default=50, help="0 = off")
    parser.add_argument("--top-p", type=float, default=0.95, help="1 = off")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="also write prompt + continuation to this file")


def run_args(args: argparse.Namespace) -> int:
    import sentencepiece as spm

    from dataprep.tokenizer.files import sentencepiece_model

    tokenizer = spm.SentencePieceProcessor(model_file=sentencepiece_model(args.tokenizer))
    model = load_model(args.checkpoint)
    if tokenizer.vocab_size() > model.cfg.vocab_size:
        raise ConfigError(f"{args.tokenizer}: vocabulary ({tokenizer.vocab_size()}) larger than the model's "
                          f"({model.cfg.vocab_size}); wrong tokenizer for this checkpoint?")
    eos = tokenizer.eos_id() if tokenizer.eos_id() >= 0 else None
    prompt = tokenizer.encode(args.prompt)
    new = generate(model, ([eos] if eos is not None else []) + prompt, args.max_new_tokens, args.temperature,
                   args.top_k, args.top_p, args.seed, eos, vocab_limit=tokenizer.vocab_size())
    text = tokenizer.decode(prompt + new)
    print(text)
    if args.output:
        write_text(args.output, text + "\n")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="sample text from a checkpoint or consolidated model",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(func=run_args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    try:
        return run_args(parser.parse_args(argv))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
