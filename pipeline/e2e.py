"""One command from raw text to a trained model: the README's main command.

Runs, each as its own process (the same commands a user would type), on the bundled sample:
data preparation + report -> tokenizer -> packed shards -> DeepSpeed training on `nproc` ranks
(validation loss, W&B offline run, loss curve) -> a generated sample -> a Hugging Face export.
A step whose outputs are complete is skipped, so an interrupted run picks up where it stopped.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from common.config import ConfigError, load_config

DEFAULT_CONFIG = "configs/e2e/sample_cpu.yaml"


@dataclasses.dataclass
class E2EConfig:
    out: str = "runs/sample"
    data_config: str = "configs/data/sample.yaml"
    tokenizer_config: str = "configs/tokenizer/sample.yaml"
    pack_config: str = "configs/tokenizer/pack.yaml"
    train_config: str = "configs/train/tiny_cpu.yaml"
    validation_ratio: float = 0.05
    nproc: int = 0                 # training ranks; 0 = 2 CPU processes, or every GPU with gpu=true
    gpu: bool = False              # NCCL + bf16 on this machine's GPUs instead of gloo + fp32
    prompt: str = "人工智能"
    max_new_tokens: int = 60
    train_overrides: list[str] = dataclasses.field(default_factory=list)

    def validate(self) -> None:
        if self.nproc < 0:
            raise ConfigError(f"nproc must be >= 0 (0 = automatic), got {self.nproc}")
        if not 0 < self.validation_ratio < 1:
            raise ConfigError(f"validation_ratio must be in (0, 1), got {self.validation_ratio}")


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def run_once(name: str, argv: list[str], done: Path, log_dir: Path, env: dict[str, str]) -> None:
    """Run one command of the chain unless `done` exists; its output goes to the terminal and to a log file."""
    if done.exists():
        print(f"== {name}: already done ({done})", flush=True)
        return
    print(f"== {name}: {shlex.join(argv)}", flush=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log_dir / f"{name}.log", "w", encoding="utf-8") as log:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        code = proc.wait()
    if code != 0:
        raise SystemExit(f"{name} failed with exit code {code}; its log: {log_dir / (name + '.log')}")
    print(f"== {name}: done in {time.perf_counter() - started:.0f} s", flush=True)


def tokenizer_vocab_size(model_file: Path) -> int:
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=str(model_file)).vocab_size()


def training_ranks(cfg: E2EConfig) -> int:
    if cfg.nproc:
        return cfg.nproc
    if not cfg.gpu:
        return 2
    import torch

    if not torch.cuda.is_available():
        raise ConfigError("gpu=true but torch sees no GPU (is a CUDA build of torch installed in .venv?)")
    return torch.cuda.device_count()


def run(cfg: E2EConfig) -> int:
    out = Path(cfg.out)
    nproc = training_ranks(cfg)
    data, tok, packed, train, hf = (out / "data", out / "tokenizer", out / "packed", out / "train", out / "hf")
    logs = out / "logs"
    env = dict(os.environ)
    env.setdefault("WANDB_MODE", "offline")
    env.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    env.setdefault("TORCH_EXTENSIONS_DIR", str(Path(".venv/torch_extensions").resolve()))
    if not cfg.gpu:
        env.setdefault("DS_ACCELERATOR", "cpu")
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // nproc)))
    started = time.perf_counter()

    run_once("dataprep", python_module("dataprep.cli", "run", "--config", cfg.data_config, f"output={data}"),
             data / "manifest.json", logs, env)
    run_once("report", python_module("dataprep.cli", "report", str(data)), data / "report" / "index.html", logs, env)
    run_once("tokenizer", python_module("dataprep.cli", "tokenizer", "train", "--config", cfg.tokenizer_config,
                                        "--input", str(data / "clean"), "--output", str(tok)),
             tok / "tokenizer.model", logs, env)
    run_once("pack", python_module("dataprep.cli", "pack", "--config", cfg.pack_config, "--input", str(data / "clean"),
                                   "--tokenizer", str(tok), "--output", str(packed),
                                   f"validation_ratio={cfg.validation_ratio}"),
             packed / "manifest.json", logs, env)

    vocab = tokenizer_vocab_size(tok / "tokenizer.model")
    train_args = ["--config", cfg.train_config, f"run.dir={train}", f"data.packed_dir={packed}",
                  f"model.vocab_size={vocab}", *(["train.precision=bf16"] if cfg.gpu else []), *cfg.train_overrides]
    launcher = python_module("torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                             "-m", "pipeline.train")
    run_once("train", launcher + train_args, train / ".e2e-done", logs, env)
    (train / ".e2e-done").touch()

    run_once("consolidate", python_module("pipeline.cli", "consolidate", str(train), "-o", str(out / "model")),
             out / "model" / "model.safetensors", logs, env)
    run_once("export-tokenizer", python_module("dataprep.cli", "tokenizer", "export-hf", "--tokenizer", str(tok),
                                               "--check", str(data / "clean")),   # ids compared on corpus lines
             tok / "hf" / "tokenizer_config.json", logs, env)
    run_once("export-hf", python_module("pipeline.cli", "export-hf", "--weights", str(out / "model" / "model.safetensors"),
                                        "--tokenizer", str(tok), "--output", str(hf)),
             hf / "config.json", logs, env)
    sample_file = out / "sample.txt"
    run_once("generate", python_module("pipeline.cli", "generate", "--checkpoint", str(out / "model"),
                                       "--tokenizer", str(tok), "--prompt", cfg.prompt,
                                       "--max-new-tokens", str(cfg.max_new_tokens), "--output", str(sample_file)),
             sample_file, logs, env)

    print_summary(out, data, tok, packed, train, hf, sample_file, time.perf_counter() - started)
    print_learning(packed, train)
    return 0


def print_summary(out: Path, data: Path, tok: Path, packed: Path, train: Path, hf: Path, sample: Path,
                  seconds: float) -> None:
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    rows = [
        ("data report", data / "report" / "index.html"),
        ("cleaned shards", data / "clean"),
        ("removed / quarantined", f"{data / 'removed.jsonl'}, {data / 'quarantine.jsonl'}"),
        ("tokenizer", tok / "tokenizer.model"),
        ("packed shards", packed / "manifest.json"),
        ("checkpoints", train / "checkpoints"),
        ("metrics", train / "metrics.jsonl"),
        ("loss curve", train / "loss.png"),
        ("W&B offline run", train / "wandb"),
        ("consolidated model", out / "model" / "model.safetensors"),
        ("Hugging Face export", hf),
        ("generated sample", sample),
    ]
    print("\n== artefacts")
    for name, path in rows:
        print(f"  {name:22s} {path}")
    counts = manifest.get("counts", {})
    if counts:
        print(f"\n  documents: {json.dumps(counts, ensure_ascii=False)}")
    print(f"  sample: {sample.read_text(encoding='utf-8').strip()[:200]!r}")
    print(f"  total time: {seconds / 60:.1f} min")


def print_learning(packed: Path, train: Path) -> None:
    """Validation loss next to the loss of predicting by token frequency alone: did the model learn?"""
    from dataprep.packed import PackedCorpus
    from pipeline.data import unigram_baseline
    from pipeline.metrics import read_metrics

    val = [(m["step"], m["val_loss"]) for m in read_metrics(train / "metrics.jsonl") if m.get("val_loss") is not None]
    baseline = unigram_baseline(PackedCorpus(packed, "train", verify=False), PackedCorpus(packed, "validation", verify=False))
    print(f"  unigram baseline: train entropy {baseline['train_unigram_entropy']:.3f} nats/token, "
          f"validation cross-entropy {baseline['val_unigram_cross_entropy']:.3f}")
    for step, loss in val:
        print(f"  step {step:5d}: validation loss {loss:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.e2e", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"end-to-end YAML (default {DEFAULT_CONFIG})")
    parser.add_argument("--gpu", action="store_true", help="train on this machine's GPUs (NCCL, bf16)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. out=runs/x")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(E2EConfig, args.config, args.overrides + (["gpu=true"] if args.gpu else []))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return run(cfg)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
