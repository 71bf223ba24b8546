"""Shared by the training tests: a small packed corpus, a tiny config, and launching real ranks."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from common.wandb_log import wandb_records
from dataprep.packed import ShardWriter, dtype_for_vocab, write_manifest

REPO = Path(__file__).resolve().parent.parent
VOCAB = 256
EOS = 2


def markov_docs(rng: np.random.Generator, n_docs: int, vocab: int = VOCAB) -> list[np.ndarray]:
    """Documents from a sparse first-order Markov chain: learnable, so loss falls well below unigram entropy."""
    table = np.random.default_rng(7).integers(3, vocab, size=(vocab, 4))
    docs = []
    for _ in range(n_docs):
        length = int(rng.integers(20, 200))
        tokens = [int(rng.integers(3, vocab))]
        for _ in range(length - 1):
            tokens.append(int(table[tokens[-1], rng.integers(0, 4)]))
        docs.append(np.asarray(tokens))
    return docs


def write_corpus(directory: Path, n_train: int = 400, n_val: int = 40, seed: int = 0,
                 tokenizer_sha256: str = "0" * 64) -> Path:
    rng = np.random.default_rng(seed)
    dtype = dtype_for_vocab(VOCAB)
    shards = []
    for split, count in (("train", n_train), ("validation", n_val)):
        writer = ShardWriter(directory, split, "part-00000", dtype)
        for doc in markov_docs(rng, count):
            writer.add(doc, source="en")
        shards.append(writer.finish())
    write_manifest(directory, shards, dtype=dtype, vocab_size=VOCAB, eos_id=EOS, tokenizer_sha256=tokenizer_sha256,
                   validation_ratio=0.1)
    return directory


def tiny_overrides(packed: Path, run_dir: Path, **extra: object) -> list[str]:
    base = {"model.vocab_size": VOCAB, "model.dim": 32, "model.n_layers": 2, "model.n_heads": 2, "model.n_kv_heads": 2,
            "model.max_seq_len": 64, "data.packed_dir": str(packed), "data.seq_len": 32,
            "run.dir": str(run_dir), "parallel.micro_batch": 2, "parallel.global_batch": 4,
            "optim.warmup_steps": 2, "train.steps": 20, "train.eval_every": 10, "train.eval_batches": 2,
            "checkpoint.every": 10, "wandb.mode": "disabled"}
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu", PYTHONWARNINGS="ignore::FutureWarning",
               TORCH_EXTENSIONS_DIR=str(REPO / ".venv" / "torch_extensions"), WANDB_SILENT="true",
               PYTHONPATH=str(REPO))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "WANDB_MODE"):
        env.pop(name, None)
    return env


def launch(overrides: list[str], ranks: int, config: str = "configs/train/tiny_cpu.yaml",
           log_dir: Path | None = None) -> list[subprocess.Popen]:
    """Start `ranks` real training processes (the Slurm/torchrun env contract), each in its own group."""
    port = str(free_port())
    procs = []
    for rank in range(ranks):
        env = base_env()
        env.update(RANK=str(rank), WORLD_SIZE=str(ranks), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=port)
        out = open(log_dir / f"rank{rank}.log", "ab") if log_dir else subprocess.DEVNULL
        procs.append(subprocess.Popen([sys.executable, "-m", "pipeline.train", "--config", config, *overrides],
                                      cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True))
    return procs


def wait_all(procs: list[subprocess.Popen], timeout: float = 120) -> list[int]:
    return [p.wait(timeout=timeout) for p in procs]


def train(overrides: list[str], ranks: int, log_dir: Path) -> list[int]:
    return wait_all(launch(overrides, ranks, log_dir=log_dir))


def wandb_runs(run_dir: Path) -> list[tuple[str, dict, list[dict]]]:
    """(run id, config, history rows) of every offline W&B run under run_dir, oldest first."""
    runs = []
    for log in sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb")):
        run_id, config, history = None, {}, []
        for record in wandb_records(log):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run_id = record.run.run_id
                config = {item.key: json.loads(item.value_json) for item in record.run.config.update}
            elif kind == "history":
                history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                                for item in record.history.item})
        runs.append((run_id, config, history))
    return runs
