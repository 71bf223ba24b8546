"""2 CPU ranks with ZeRO 1/2/3 train exactly like one process on the same global batch, and each
stage partitions what it should (read back from the checkpoint every rank wrote)."""
from __future__ import annotations

import pytest
import torch

from pipeline import checkpoint
from pipeline.config import ModelConfig
from pipeline.metrics import read_metrics
from train_fixtures import tiny_overrides, train, write_corpus

STEPS = 20
# Observed over 20 steps (fp32, gloo, 2 ranks vs 1 process): loss <= 4.5e-8 relative (0 for ZeRO-1/2),
# grad norm <= 1.5e-7 (the all-reduce sums in another order); a few times that, not 1000x.
LOSS_REL, GRAD_NORM_REL = 1e-6, 1e-6
TINY = ModelConfig(vocab_size=256, dim=32, n_layers=2, n_heads=2, n_kv_heads=2, max_seq_len=64)   # tiny_overrides


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("packed"))


@pytest.fixture(scope="module")
def reference(packed, tmp_path_factory):
    """One process, ZeRO off, gradient accumulation 2: the numbers every layout must reproduce."""
    run = tmp_path_factory.mktemp("single")
    assert train(tiny_overrides(packed, run, **{"parallel.zero_stage": 0, "train.steps": STEPS}), 1, run) == [0]
    return read_metrics(run / "metrics.jsonl")


def zero_files(run_dir, rank: int) -> dict:
    """What one rank wrote of the last checkpoint: its optimizer-state partition (and under ZeRO-3
    its parameter partition), loaded with DeepSpeed's enum and loss-scaler classes allowed."""
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    ckpt = checkpoint.latest_complete(run_dir)
    with torch.serialization.safe_globals([ZeroStageEnum, LossScaler, DynamicLossScaler, fragment_address]):
        optim = torch.load(ckpt / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt", weights_only=True)
        model = ckpt / f"zero_pp_rank_{rank}_mp_rank_00_model_states.pt"
        params = torch.load(model, weights_only=True) if model.is_file() else None
    return {"optim": optim["optimizer_state_dict"], "model": params}


def numel(tensors) -> int:
    return sum(t.numel() for t in tensors)


def assert_partitioned(run_dir, stage: int, n_params: int) -> None:
    """ZeRO-1/2: each rank keeps half of the fp32 masters (and so of Adam's moments); ZeRO-2's
    optimizer recorded that it partitioned the gradients; ZeRO-3: half of the parameters too."""
    for rank in (0, 1):
        files = zero_files(run_dir, rank)
        optim = files["optim"]
        masters = optim["fp32_flat_groups"] if stage == 3 else optim["single_partition_of_fp32_groups"]
        assert n_params / 2 <= numel(masters) < n_params / 2 + 64, (rank, numel(masters))   # + alignment padding
        assert int(optim["zero_stage"]) == stage
        assert (files["model"] is not None) == (stage == 3)      # ZeRO-3: parameters saved per rank


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2, 3])
def test_two_ranks_match_single_process(stage, packed, reference, tmp_path):
    assert train(tiny_overrides(packed, tmp_path, **{"parallel.zero_stage": stage, "train.steps": STEPS}),
                 2, tmp_path) == [0, 0]
    got = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in got] == list(range(1, STEPS + 1)) == [r["step"] for r in reference]
    for ours, ref in zip(got, reference):
        assert ours["loss"] == pytest.approx(ref["loss"], rel=LOSS_REL), ours["step"]
        assert ours["lr"] == pytest.approx(ref["lr"], rel=1e-12)
        assert ours["grad_norm"] == pytest.approx(ref["grad_norm"], rel=GRAD_NORM_REL)
    evals = [(r["step"], r["val_loss"]) for r in got if "val_loss" in r]
    assert [s for s, _ in evals] == [10, 20]
    for (_, ours), ref in zip(evals, [r["val_loss"] for r in reference if "val_loss" in r]):
        assert ours == pytest.approx(ref, rel=LOSS_REL)
    # training did something: the loss moved and the schedule decayed towards min_lr
    assert got[-1]["loss"] < got[0]["loss"]
    assert got[-1]["lr"] < got[2]["lr"]
    assert_partitioned(tmp_path, stage, n_params=TINY.num_params())
