"""Checkpoints: exact resume after SIGKILL (falling back past a damaged newest checkpoint), requeue on
SIGUSR1, refusal of a changed model or other data, consolidation, init_from continuing the step
count, data position and Adam state under another layout, and the loss guard skipping NaN steps."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import time

import pytest
import torch
import yaml
from safetensors.torch import load_file

from dataprep.packed import PackedCorpus
from pipeline import checkpoint
from pipeline.config import EXIT_DIVERGED, EXIT_REQUEUE, ModelConfig, OptimConfig
from pipeline.data import unigram_baseline
from pipeline.guard import NAN_STEPS_ENV
from pipeline.metrics import read_metrics
from pipeline.model import Transformer
from pipeline.schedule import lr_at
from train_fixtures import REPO, base_env, launch, tiny_overrides, train, wait_all, wandb_runs, write_corpus

EXACT = ("step", "loss", "lr", "grad_norm", "val_loss")
# tp=2 x dp=2 -> tp=1 x dp=2 (test_layout_change_keeps_optimizer_state): measured 1.0e-7 relative at
# most (float order of the tensor-parallel sums); with fresh Adam moments 9.3e-3, without its step count 1.2e-2
LAYOUT_CHANGE_REL = 1e-6


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("packed"))


def wait_for_step(run_dir, step: int, procs, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = read_metrics_safely(run_dir / "metrics.jsonl")
        if done and done[-1]["step"] >= step:
            return done[-1]["step"]
        assert all(p.poll() is None for p in procs), "training exited before it could be interrupted"
        time.sleep(0.02)
    raise TimeoutError(f"step {step} not reached in {timeout} s")


def read_metrics_safely(path):
    try:
        return read_metrics(path)
    except ValueError:          # caught a line half-appended
        return []


def same_numbers(got, want):
    assert [{k: r.get(k) for k in EXACT} for r in got] == [{k: r.get(k) for k in EXACT} for r in want]


@pytest.mark.slow
def test_sigkill_then_resume_repeats_the_uninterrupted_run_exactly(packed, tmp_path):
    steps = 60
    opts = {"train.steps": steps, "checkpoint.every": 10, "checkpoint.keep_last": 2, "train.eval_every": 20}
    reference = tmp_path / "reference"
    assert train(tiny_overrides(packed, reference, **opts), 1, tmp_path) == [0]

    run = tmp_path / "killed"
    opts["wandb.mode"] = "offline"                  # the killed run's steps reach W&B once (below)
    procs = launch(tiny_overrides(packed, run, **opts), 1, log_dir=tmp_path)
    killed_at = wait_for_step(run, 25, procs)
    procs[0].send_signal(signal.SIGKILL)
    assert wait_all(procs) == [-signal.SIGKILL]
    assert killed_at < steps
    # a writer killed mid-save leaves a checkpoint without COMPLETE: it must be ignored and removed
    half_written = checkpoint.checkpoints_dir(run) / checkpoint.tag_for(steps - 1)
    half_written.mkdir()
    (half_written / "mp_rank_00_model_states.pt").write_bytes(b"truncated")
    latest = checkpoint.latest_complete(run)
    assert latest is not None and 20 <= int(latest.name.split("_")[1]) <= killed_at
    latest_step = int(latest.name.split("_")[1])
    # the newest complete checkpoint then rots: 64 flipped bytes in its weights, same size
    weights = latest / "mp_rank_00_model_states.pt"
    data = bytearray(weights.read_bytes())
    data[-200:-136] = bytes(b ^ 0xFF for b in data[-200:-136])
    weights.write_bytes(bytes(data))

    assert train(tiny_overrides(packed, run, **opts), 1, tmp_path) == [0]
    assert not half_written.exists()
    fallback = [line for line in (tmp_path / "rank0.log").read_text().splitlines() if "is damaged" in line]
    assert fallback == [f"checkpoint {latest.name} is damaged (mp_rank_00_model_states.pt does not match its sha256 "
                        f"(changed on disk)); moved aside as {latest.name}.damaged, trying an older one"]
    records = read_metrics(run / "metrics.jsonl")
    same_numbers(records, read_metrics(reference / "metrics.jsonl"))
    # W&B holds each step once: the resumed run does not send again what the killed run's offline
    # files already hold (SIGKILL loses W&B's unflushed tail: those steps are sent by the rerun)
    logged = [row["_step"] for _, _, history in wandb_runs(run) for row in history]
    assert len(logged) == len(set(logged)) and logged[-1] == steps, logged
    assert set(logged) >= set(range(latest_step + 1, steps + 1)), logged
    # and it learned: validation loss clearly below what token frequencies alone achieve
    baseline = unigram_baseline(PackedCorpus(packed, "train"), PackedCorpus(packed, "validation"))
    assert records[-1]["val_loss"] < baseline["val_unigram_cross_entropy"] - 0.3
    kept = [p.name for p in checkpoint.complete_checkpoints(run)]
    assert kept == [checkpoint.tag_for(50), checkpoint.tag_for(60)]        # keep_last = 2
    assert (run / "loss.png").stat().st_size > 1000


@pytest.mark.slow
def test_sigusr1_checkpoints_exits_85_and_the_rerun_continues_the_same_wandb_run(packed, tmp_path):
    steps = 40
    opts = {"parallel.zero_stage": 2, "train.steps": steps, "checkpoint.every": 1000, "train.eval_every": 1000,
            "wandb.mode": "offline"}
    procs = launch(tiny_overrides(packed, tmp_path, **opts), 2, log_dir=tmp_path)
    wait_for_step(tmp_path, 5, procs)
    procs[0].send_signal(signal.SIGUSR1)          # one rank only: the ranks must agree among themselves
    assert wait_all(procs) == [EXIT_REQUEUE, EXIT_REQUEUE]
    first = read_metrics(tmp_path / "metrics.jsonl")
    stopped = first[-1]["step"]
    assert 5 <= stopped < steps
    latest = checkpoint.latest_complete(tmp_path)
    assert latest is not None and latest.name == checkpoint.tag_for(stopped)
    state = checkpoint.read_state(latest)
    assert state["step"] == stopped and state["samples_consumed"] == stopped * 4
    run_id = (tmp_path / "wandb_run_id").read_text().strip()
    assert state["wandb_run_id"] == run_id

    assert train(tiny_overrides(packed, tmp_path, **opts), 2, tmp_path) == [0, 0]
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, steps + 1))
    assert (tmp_path / "wandb_run_id").read_text().strip() == run_id
    runs = wandb_runs(tmp_path)
    assert [rid for rid, _, _ in runs] == [run_id, run_id]
    assert all(config["model"]["dim"] == 32 and config["parallel"]["zero_stage"] == 2 for _, config, _ in runs)
    logged = [row for _, _, history in runs for row in history]
    assert [row["_step"] for row in logged] == list(range(1, steps + 1))
    for row, record in zip(logged, records):
        for key in ("loss", "lr", "grad_norm", "tokens_per_s"):
            assert row[key] == record[key], (key, record["step"])


def run_cli(*overrides: str, ranks: int = 1):
    """One training process, its exit code and stderr (for the refusal messages)."""
    return subprocess.run([os.sys.executable, "-m", "pipeline.train", "--config", "configs/train/tiny_cpu.yaml",
                           *overrides], cwd=REPO, env=base_env(), capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_refusals_consolidation_and_init_from(packed, tmp_path):
    run = tmp_path / "run"
    opts = {"parallel.zero_stage": 0, "train.steps": 8, "train.eval_every": 8, "train.print_every": 4}
    assert train(tiny_overrides(packed, run, **opts), 1, tmp_path) == [0]
    progress = [line for line in (tmp_path / "rank0.log").read_text().splitlines() if line.startswith("step ")]
    assert [line.split(" | ")[0] for line in progress] == ["step 4/8", "step 8/8"]     # the console shows progress
    assert "val_loss" in progress[-1] and "ETA 0:00:00" in progress[-1]
    out = tmp_path / "export" / "model.safetensors"
    checkpoint.consolidate(run, out)
    weights = load_file(out)
    model_cfg = ModelConfig(**yaml.safe_load((out.parent / "model_config.yaml").read_text()))
    model = Transformer(model_cfg)
    model.load_state_dict(weights)            # strict: our names, every parameter
    assert set(weights) == set(model.state_dict())
    assert model_cfg.dim == 32 and all(t.dtype == torch.float32 for t in weights.values())

    other_tokenizer = write_corpus(tmp_path / "other_packed", seed=1, tokenizer_sha256="f" * 64)
    for change, message in ((("model.dim=64",), "different model config"),
                            (("parallel.zero_stage=1",), "Start a new run.dir"),
                            (("data.seq_len=16",), "(seq_len differ)"),
                            ((f"data.packed_dir={other_tokenizer}",), "(packed_sha256, tokenizer_sha256 differ)")):
        result = run_cli(*tiny_overrides(packed, run, **{**opts, "train.steps": 12}), *change)
        assert result.returncode == 2, result.stderr[-2000:]
        assert message in result.stderr and "Traceback" not in result.stderr
    assert "tokenizer_sha256=000000000000" in result.stderr and "tokenizer_sha256=ffffffffffff" in result.stderr

    # the run goes on to step 10; a new run under another layout (ZeRO-1), seeded from the step-8
    # weights and Adam state, continues at step 9 on the same batches and schedule
    longer = {**opts, "train.steps": 10, "train.eval_every": 10}
    assert train(tiny_overrides(packed, run, **longer), 1, tmp_path) == [0]
    seeded = tmp_path / "seeded"
    assert train(tiny_overrides(packed, seeded, **{**longer, "parallel.zero_stage": 1, "run.init_from": out}),
                 1, tmp_path) == [0]
    got, want = read_metrics(seeded / "metrics.jsonl"), read_metrics(run / "metrics.jsonl")[8:]
    assert [r["step"] for r in got] == [r["step"] for r in want] == [9, 10]
    assert [r["lr"] for r in got] == [r["lr"] for r in want]
    assert got[0]["loss"] == pytest.approx(want[0]["loss"], rel=1e-6)   # same weights, same batch
    assert got[1]["loss"] == pytest.approx(want[1]["loss"], rel=LAYOUT_CHANGE_REL)    # Adam's state came along


@pytest.mark.slow
def test_layout_change_keeps_optimizer_state(packed, tmp_path):
    """tp=2 x dp=2 for 60 steps, checkpointing at step 30; that checkpoint consolidated and continued
    as tp=1 x dp=2 (a new run.dir with run.init_from) for steps 31-60 trains like the run that never
    moved: every loss and lr, and the final validation loss. Adam's moments and step count come along
    (with fresh moments step 31's update is ~lr * sign(gradient) and the losses drift ~1e-2 apart)."""
    opts = {"parallel.tp": 2, "parallel.zero_stage": 1, "train.steps": 60, "checkpoint.every": 30,
            "checkpoint.keep_last": 2, "train.eval_every": 60}
    stayed, moved = tmp_path / "tp2", tmp_path / "tp1"
    assert train(tiny_overrides(packed, stayed, **opts), 4, tmp_path) == [0] * 4
    out = tmp_path / "consolidated" / checkpoint.CONSOLIDATED
    checkpoint.consolidate(checkpoint.checkpoints_dir(stayed) / checkpoint.tag_for(30), out)
    assert (out.parent / checkpoint.OPTIMIZER).is_file()
    assert train(tiny_overrides(packed, moved, **{**opts, "parallel.tp": 1, "run.init_from": out}), 2,
                 tmp_path) == [0, 0]
    log = (tmp_path / "rank0.log").read_text()
    assert ("written under [tp=2, pp=1, dp=2, zero_stage=1], now [tp=1, pp=1, dp=2, zero_stage=1]; carried over: "
            "weights, Adam moments (optimizer step 30), lr schedule and data position") in log
    got, want = read_metrics(moved / "metrics.jsonl"), read_metrics(stayed / "metrics.jsonl")[30:]
    assert [r["step"] for r in got] == [r["step"] for r in want] == list(range(31, 61))
    assert [r["lr"] for r in got] == [r["lr"] for r in want]
    assert [r["loss"] for r in got] == pytest.approx([r["loss"] for r in want], rel=LAYOUT_CHANGE_REL)
    assert got[-1]["val_loss"] == pytest.approx(want[-1]["val_loss"], rel=LAYOUT_CHANGE_REL)


@pytest.mark.slow
def test_bf16_without_zero_consolidates_the_fp32_masters(packed, tmp_path):
    """From DeepSpeed's own files (checkpoint.reshardable off: no model.safetensors beside them)."""
    assert train(tiny_overrides(packed, tmp_path, **{"parallel.zero_stage": 0, "train.precision": "bf16",
                                                     "train.steps": 3, "checkpoint.reshardable": False}),
                 1, tmp_path) == [0]
    ckpt = checkpoint.latest_complete(tmp_path)
    assert not (ckpt / checkpoint.CONSOLIDATED).exists() and not (ckpt / checkpoint.OPTIMIZER).exists()
    weights, _ = checkpoint.fp32_state_dict(ckpt)
    module = torch.load(ckpt / "mp_rank_00_model_states.pt", weights_only=True)["module"]
    assert set(weights) == set(module) and all(t.dtype == torch.float32 for t in weights.values())
    assert all(torch.equal(weights[k].bfloat16(), module[k]) for k in module)       # the same weights ...
    assert any(not torch.equal(weights[k], module[k].float()) for k in module)      # ... at full precision


@pytest.mark.slow
@pytest.mark.parametrize("stage", [0, 2])
def test_nan_steps_are_skipped_counted_and_too_many_in_a_row_stop_the_run(packed, tmp_path, stage):
    """NaN loss (and so NaN gradients) injected at steps 3, 5 and 6: 3 is skipped and training goes
    on; 5 and 6 make two in a row, which stops the run with exit 3 and keeps the step-5 checkpoint.
    Stage 0 is skipped by our guard (DeepSpeed's plain optimizer would apply NaN), stage 2 by
    DeepSpeed's own non-finite check; the schedule moves on either way."""
    opts = {"parallel.zero_stage": stage, "train.steps": 10, "checkpoint.every": 1, "checkpoint.keep_last": 20,
            "guard.max_skipped_in_row": 2, "train.eval_every": 0}
    env = {**base_env(), NAN_STEPS_ENV: "3,5,6"}
    result = subprocess.run([os.sys.executable, "-m", "pipeline.train", "--config", "configs/train/tiny_cpu.yaml",
                             *tiny_overrides(packed, tmp_path, **opts)], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == EXIT_DIVERGED, result.stderr[-3000:]
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "2 steps in a row skipped up to step 6" in error[0]
    assert f"last checkpoint is {checkpoint.checkpoints_dir(tmp_path) / checkpoint.tag_for(5)}" in error[0]
    assert "Traceback" not in result.stderr
    assert "step 3: skipped (non-finite loss nan); 1 skipped in all, 1 in a row" in result.stdout

    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["skipped_steps"] for r in records] == [0, 0, 1, 1, 2, 3]
    assert [math.isnan(r["loss"]) for r in records] == [False, False, True, False, True, True]
    lrs = [r["lr"] for r in records]
    assert lrs == pytest.approx([lr_at(step, OptimConfig(warmup_steps=2), 10) for step in range(6)], rel=1e-12)

    def module(step):
        return torch.load(checkpoint.checkpoints_dir(tmp_path) / checkpoint.tag_for(step) /
                          "mp_rank_00_model_states.pt", weights_only=True)["module"]
    weights = {step: module(step) for step in range(2, 6)}
    def same(a, b):
        return all(torch.equal(weights[a][k], weights[b][k]) for k in weights[a])
    assert same(3, 2) and same(5, 4) and not same(4, 3)          # skipped steps left the weights alone
    assert all(torch.isfinite(t).all() for w in weights.values() for t in w.values())
    assert checkpoint.read_state(checkpoint.latest_complete(tmp_path))["guard"]["skipped_steps"] == 2
