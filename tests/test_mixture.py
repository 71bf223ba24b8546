"""The blend of packed sources by weight (pipeline/mixture.py): shares, rank independence, exact resume."""
from __future__ import annotations

import numpy as np
import pytest
from train_fixtures import write_corpus

from common.config import ConfigError, load_config
from dataprep.packed import PackedCorpus, TrainingSamples
from pipeline import checkpoint, mixture
from pipeline.config import TrainConfig
from pipeline.data import TrainBatches, eval_micro_batches

WEIGHTS = [0.5, 0.3, 0.2]
SIZES = [60, 200, 30]          # documents per source: the weights, not the sizes, set the shares


def sources(tmp_path):
    return [write_corpus(tmp_path / f"src{i}", n_train=n, n_val=6, seed=i) for i, n in enumerate(SIZES)]


def sources_cfg(paths, weights) -> TrainConfig:
    listed = ",".join(f"{{path: {p}, weight: {w}}}" for p, w in zip(paths, weights))
    return load_config(TrainConfig, "configs/train/tiny_cpu.yaml",
                       [f"data.sources=[{listed}]", "data.seq_len=16", "model.vocab_size=256"])


def blend_cfg(tmp_path, weights=WEIGHTS) -> TrainConfig:
    return sources_cfg(sources(tmp_path), weights)


def test_realised_shares_match_the_weights_over_10k_samples(tmp_path):
    cfg = blend_cfg(tmp_path)
    blend = mixture.load(cfg, "train")
    assert isinstance(blend, mixture.BlendedSamples)
    batches = TrainBatches(blend, 8, 2, 0, 1, seed=cfg.data.data_seed)
    ids = np.concatenate([batches.sample_ids(step) for step in range(1250)])          # 10k samples
    assert len(ids) == 10_000 and batches.epoch_of(1249) >= 2                         # several blend epochs
    shares = blend.shares(ids)
    assert np.abs(shares - WEIGHTS).max() < 0.01, shares
    assert np.abs(blend.shares(ids[:500]) - WEIGHTS).max() < 0.01                     # any prefix, not just the total
    small = ids[blend.source_of(ids) == 2]
    assert len(np.unique(small)) == blend.sizes[2]          # the small source repeats: every sample, several times
    source = int(blend.source_of(ids[:1])[0])
    assert blend[int(ids[0])].tolist() == blend.sources[source][int(ids[0] - blend.offsets[source])].tolist()
    lines = mixture.describe(blend, cfg.data.data_seed, 1250, 8)
    assert [line.split(",")[0].split(": ")[-1] for line in lines] == ["weight share 0.5000", "weight share 0.3000",
                                                                      "weight share 0.2000"]
    assert all(f"realised {share:.4f} over 10000 samples" in line for share, line in zip(shares, lines))


def test_order_is_a_pure_function_of_seed_and_step_on_any_world_size(tmp_path):
    cfg = blend_cfg(tmp_path)
    run = TrainBatches(mixture.load(cfg, "train"), 8, 2, 0, 1, seed=5)
    steps = [0, 7, run.batches_per_epoch - 1, run.batches_per_epoch, 3 * run.batches_per_epoch + 2]
    continuous = {s: run.sample_ids(s).tolist() for s in range(max(steps) + 1)}
    for dp in (2, 4):
        resumed = [TrainBatches(mixture.load(cfg, "train"), 8, 2, r, dp, seed=5) for r in range(dp)]   # fresh process
        for step in reversed(steps):                                                  # any step first
            assert np.concatenate([b.sample_ids(step) for b in resumed]).tolist() == continuous[step]
    other = TrainBatches(mixture.load(cfg, "train"), 8, 2, 0, 1, seed=6)
    assert other.sample_ids(0).tolist() != continuous[0]


def test_validation_blend_and_single_dir_still_work(tmp_path):
    cfg = blend_cfg(tmp_path)
    val = mixture.load(cfg, "validation")
    ids = val.ids[:len(val)]
    assert np.abs(val.blend.shares(ids) - WEIGHTS).max() < 0.02      # first samples mix every source
    assert len(eval_micro_batches(val, 6, 2, 0, 1)) == 3
    single = load_config(TrainConfig, "configs/train/tiny_cpu.yaml",
                         [f"data.packed_dir={tmp_path / 'src0'}", "data.seq_len=16", "model.vocab_size=256"])
    plain = mixture.load(single, "train")
    assert isinstance(plain, TrainingSamples) and len(plain) == len(TrainingSamples(PackedCorpus(tmp_path / "src0"), 16))


def test_fingerprint_covers_weights_and_tokenizers_must_agree(tmp_path):
    first = mixture.data_fingerprint(blend_cfg(tmp_path), checkpoint.data_fingerprint)
    again = mixture.data_fingerprint(blend_cfg(tmp_path), checkpoint.data_fingerprint)
    reweighted = mixture.data_fingerprint(blend_cfg(tmp_path, [0.4, 0.4, 0.2]), checkpoint.data_fingerprint)
    assert first == again and first["packed_sha256"] != reweighted["packed_sha256"]
    write_corpus(tmp_path / "src2", n_train=30, n_val=6, seed=2, tokenizer_sha256="1" * 64)
    with pytest.raises(ConfigError, match="src2 was packed with another tokenizer .*tokenizer_sha256"):
        mixture.data_fingerprint(sources_cfg([tmp_path / f"src{i}" for i in range(3)], WEIGHTS),
                                 checkpoint.data_fingerprint)
    with pytest.raises(ConfigError, match=r"data.sources\[0\].weight must be > 0"):
        load_config(TrainConfig, "configs/train/tiny_cpu.yaml", [f"data.sources=[{{path: {tmp_path}, weight: 0}}]"])


@pytest.mark.slow
def test_training_on_a_blend_logs_each_sources_validation_loss(tmp_path):
    """Per-domain validation: a run on two sources logs val_loss/<name> for each (its own validation
    split) beside the blend's val_loss, in metrics.jsonl and so in W&B."""
    from train_fixtures import tiny_overrides, train

    from pipeline.metrics import read_metrics

    easy = write_corpus(tmp_path / "easy", n_train=200, n_val=20, seed=1)
    hard = write_corpus(tmp_path / "hard", n_train=200, n_val=20, seed=2)
    run = tmp_path / "run"
    overrides = tiny_overrides(easy, run, **{"train.steps": 6, "train.eval_every": 3})
    overrides.append(f"data.sources=[{{path: {easy}, weight: 0.7, name: news}}, {{path: {hard}, weight: 0.3}}]")
    assert train(overrides, 1, tmp_path) == [0]
    evals = [r for r in read_metrics(run / "metrics.jsonl") if "val_loss" in r]
    assert [r["step"] for r in evals] == [3, 6]
    for r in evals:
        assert {"val_loss/news", "val_loss/hard"} <= set(r), r
        assert 0 < r["val_loss/news"] < 20 and 0 < r["val_loss/hard"] < 20
        assert r["val_loss/news"] != r["val_loss/hard"], r
