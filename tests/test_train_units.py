"""Fast checks of the pieces under the training loop: DeepSpeed config, lr schedule, rank batching."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from common.config import ConfigError, load_config
from dataprep.packed import PackedCorpus, TrainingSamples
from pipeline.config import OptimConfig, TrainConfig
from pipeline.data import Prefetcher, TrainBatches, eval_micro_batches
from pipeline.ds_config import build_ds_config, make_optimizer
from pipeline.engines.base import param_groups
from pipeline.schedule import lr_at
from train_fixtures import write_corpus


def cfg_with(*overrides: str) -> TrainConfig:
    return load_config(TrainConfig, "configs/train/tiny_cpu.yaml", list(overrides))


def test_ds_config_follows_the_train_config():
    ds = build_ds_config(cfg_with("parallel.zero_stage=3", "parallel.global_batch=16", "parallel.micro_batch=2",
                                  "optim.grad_clip=0.5"), world_size=2, on_gpu=False)
    assert ds["gradient_accumulation_steps"] == 4 and ds["train_batch_size"] == 16
    assert ds["train_micro_batch_size_per_gpu"] == 2 and ds["zero_optimization"]["stage"] == 3
    assert ds["gradient_clipping"] == 0.5
    assert "optimizer" not in ds           # the engine hands DeepSpeed torch's fused AdamW (make_optimizer)
    gpu = build_ds_config(cfg_with("train.precision=bf16"), world_size=2, on_gpu=True)
    assert "optimizer" not in gpu and gpu["bf16"]["enabled"]
    offload = cfg_with("parallel.zero_stage=2", "parallel.offload_optimizer=true")
    assert build_ds_config(offload, world_size=2, on_gpu=False)["optimizer"]["type"] == "AdamW"
    assert make_optimizer(offload) is None   # ZeRO-Offload requires DeepSpeed's CPU Adam, named in the JSON


def test_optimizer_is_torchs_fused_adamw_with_the_configured_settings():
    cfg = cfg_with("optim.lr=0.002", "optim.weight_decay=0.05", "optim.beta2=0.9")
    model = torch.nn.Linear(4, 4)
    optimizer = make_optimizer(cfg)(param_groups(model, cfg.optim.weight_decay))
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["fused"] is True
    assert optimizer.defaults["lr"] == 0.002 and optimizer.defaults["betas"] == (cfg.optim.beta1, 0.9)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.05, 0.0]     # none on the bias


@pytest.mark.parametrize("overrides, message", [
    (["parallel.global_batch=6"], "not divisible by parallel.micro_batch"),
    (["train.precision=fp16"], "fp16 is not supported on CPU"),
    (["parallel.offload_optimizer=true"], "zero_stage >= 2"),
])
def test_ds_config_rejects_impossible_settings(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_ds_config(cfg_with(*overrides), world_size=2, on_gpu=False)


def test_schedule_warms_up_linearly_then_decays_to_min_lr():
    optim = OptimConfig(lr=1.0, min_lr=0.1, warmup_steps=4)
    assert [lr_at(s, optim, 100) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    decay = [lr_at(s, optim, 100) for s in range(4, 101)]
    assert decay[0] == pytest.approx(1.0) and decay[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert lr_at(52, optim, 100) == pytest.approx(0.55)          # half way: the mean of lr and min_lr


def test_rank_slices_make_up_the_same_global_batch_on_any_world_size(tmp_path):
    samples = TrainingSamples(PackedCorpus(write_corpus(tmp_path, n_train=60, n_val=8)), 16)
    single = TrainBatches(samples, 8, 2, 0, 1, seed=3)
    for dp in (2, 4):
        ranks = [TrainBatches(samples, 8, 2, r, dp, seed=3) for r in range(dp)]
        for step in (0, 1, single.batches_per_epoch + 2):          # crosses into epoch 1
            assert np.concatenate([b.sample_ids(step) for b in ranks]).tolist() == single.sample_ids(step).tolist()
    first_epoch = np.concatenate([single.sample_ids(s) for s in range(single.batches_per_epoch)])
    assert len(set(first_epoch.tolist())) == len(first_epoch)          # no sample twice in an epoch
    assert [b.shape for b in single.micro_batches(0)] == [(2, 17)] * 4
    evals = [eval_micro_batches(samples, 7, 2, r, 2) for r in range(2)]
    assert [len(e) for e in evals] == [2, 2] and sum(b.shape[0] for e in evals for b in e) == 6


def test_progress_line_says_step_loss_speed_and_eta():
    from pipeline.metrics import progress_line
    record = {"step": 120, "loss": 6.2134, "lr": 3e-4, "grad_norm": 0.81, "tokens_per_s": 12345.6, "mfu": 0.384,
              "val_loss": 6.1}
    assert progress_line(record, 400, 3725.0) == ("step 120/400 | loss 6.2134 | lr 0.0003 | grad_norm 0.81 | "
                                                  "12,346 tokens/s | MFU 38.4% | val_loss 6.1000 | ETA 1:02:05")
    assert "MFU" not in progress_line({**record, "mfu": None}, 400, None)


class RecordingBatches:
    """Stands in for TrainBatches: a step's batch is its number; records which thread read what."""

    def __init__(self):
        self.read: list[tuple[int, str]] = []

    def micro_batches(self, step: int) -> list[torch.Tensor]:
        self.read.append((step, threading.current_thread().name))
        return [torch.full((1, 3), step)]


def test_prefetcher_reads_ahead_on_another_thread_within_its_bound():
    batches = RecordingBatches()
    loader = Prefetcher(batches, start=5, stop=20, depth=2)
    try:
        assert loader.get(5)[0][0, 0] == 5
        time.sleep(0.3)                       # let it run as far ahead as the queue allows
        # steps 6 and 7 queued, 8 read and waiting for room: never more than depth + 1 ahead
        assert [s for s, _ in batches.read] == [5, 6, 7, 8]
        assert {t for _, t in batches.read} == {"batch-prefetch"}
        assert [int(loader.get(s)[0][0, 0]) for s in range(6, 12)] == list(range(6, 12))
        with pytest.raises(RuntimeError, match="expected step 12"):
            loader.get(13)
    finally:
        loader.close()


def test_prefetched_batches_equal_direct_reads_from_a_resumed_step(tmp_path):
    samples = TrainingSamples(PackedCorpus(write_corpus(tmp_path, n_train=60, n_val=8)), 16)
    batches = TrainBatches(samples, 8, 2, 1, 2, seed=3)
    loader = Prefetcher(batches, start=3, stop=3 + 2 * batches.batches_per_epoch, depth=2)   # crosses epochs
    direct = TrainBatches(samples, 8, 2, 1, 2, seed=3)
    for step in range(3, 3 + 2 * batches.batches_per_epoch):
        assert all(torch.equal(a, b) for a, b in zip(loader.get(step), direct.micro_batches(step)))
    loader.close()


def test_compile_and_liger_are_refused_where_they_cannot_work():
    with pytest.raises(ConfigError, match="cannot be combined with parallel.zero_stage=3"):
        cfg_with("train.compile=true", "parallel.zero_stage=3")
    cfg_with("train.compile=true", "parallel.zero_stage=2")
    from pipeline.kernels import check_liger

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="train.liger_kernels needs a CUDA GPU"):
            check_liger()


@pytest.mark.parametrize("error, node_local", [
    (torch.AcceleratorError("CUDA error: uncorrectable ECC error encountered"), True),
    (RuntimeError("CUDA error: unspecified launch failure"), True),                    # torch < 2.8
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), False),  # the job's, not the node's
    (RuntimeError("CUDA error: device-side assert triggered"), False),                 # e.g. a token id >= vocab
    (RuntimeError("shape mismatch"), False),
])
def test_an_accelerator_fault_exits_87_so_slurm_requeues_elsewhere(monkeypatch, error, node_local):
    """pretrain train turns a CUDA fault of the device itself into EXIT_NODE_FAULT, which the Slurm
    script treats as node-local; any other error stays an ordinary crash (a traceback, exit 1)."""
    import argparse

    from pipeline import train as train_module
    from pipeline.config import EXIT_NODE_FAULT

    def crash(cfg):
        raise error
    monkeypatch.setattr(train_module, "train", crash)
    args = argparse.Namespace(config="configs/train/tiny_cpu.yaml", overrides=[])
    if node_local:
        assert train_module.run_args(args) == EXIT_NODE_FAULT
    else:
        with pytest.raises(type(error)):
            train_module.run_args(args)
