"""2 CPU ranks with ZeRO 1/2/3 train exactly like one process on the same global batch."""
from __future__ import annotations

import pytest

from pipeline.metrics import read_metrics
from train_fixtures import tiny_overrides, train, write_corpus

STEPS = 20


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("packed"))


@pytest.fixture(scope="module")
def reference(packed, tmp_path_factory):
    """One process, ZeRO off, gradient accumulation 2: the numbers every layout must reproduce."""
    run = tmp_path_factory.mktemp("single")
    assert train(tiny_overrides(packed, run, **{"parallel.zero_stage": 0, "train.steps": STEPS}), 1, run) == [0]
    return read_metrics(run / "metrics.jsonl")


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2, 3])
def test_two_ranks_match_single_process(stage, packed, reference, tmp_path):
    assert train(tiny_overrides(packed, tmp_path, **{"parallel.zero_stage": stage, "train.steps": STEPS}),
                 2, tmp_path) == [0, 0]
    got = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in got] == list(range(1, STEPS + 1)) == [r["step"] for r in reference]
    for ours, ref in zip(got, reference):
        assert ours["loss"] == pytest.approx(ref["loss"], rel=1e-4), ours["step"]
        assert ours["lr"] == pytest.approx(ref["lr"], rel=1e-9)
        assert ours["grad_norm"] == pytest.approx(ref["grad_norm"], rel=1e-3)
    evals = [(r["step"], r["val_loss"]) for r in got if "val_loss" in r]
    assert [s for s, _ in evals] == [10, 20]
    for (_, ours), ref in zip(evals, [r["val_loss"] for r in reference if "val_loss" in r]):
        assert ours == pytest.approx(ref, rel=1e-4)
    # training did something: the loss moved and the schedule decayed towards min_lr
    assert got[-1]["loss"] < got[0]["loss"]
    assert got[-1]["lr"] < got[2]["lr"]
