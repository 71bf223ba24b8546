"""Layout checks, rank topology, AutoTP partition rules, pipeline names, consolidated-weight loading,
and the real CLI: a bad layout fails fast; a tp=2 run trains like one process and consolidates."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from common.config import ConfigError, load_config
from pipeline.checkpoint import (CONSOLIDATED, OPTIMIZER, consolidate, latest_complete, write_adam_state,
                                 write_consolidated)
from pipeline.config import ModelConfig, TrainConfig
from pipeline.metrics import read_metrics
from pipeline.model import Transformer
from pipeline.parallel.consolidate import adam_names, load_into_model, open_checked
from pipeline.parallel.layout import LayoutError, Topology, check_layout
from pipeline.parallel.stages import model_name
from pipeline.parallel.tensor import autotp_section, shard_dim
from train_fixtures import REPO, base_env, tiny_overrides, train, write_corpus

TINY = REPO / "configs" / "train" / "tiny_cpu.yaml"


def config(*overrides: str) -> TrainConfig:
    return load_config(TrainConfig, TINY, list(overrides))


@pytest.mark.parametrize("world,overrides,message", [
    (3, ["parallel.tp=2"], "world size 3 is not divisible by parallel.tp x parallel.pp = 2 x 1 = 2"),
    (3, ["parallel.tp=3"], "model.n_heads (4) is not divisible by parallel.tp (3)"),
    (4, ["model.n_kv_heads=2", "parallel.tp=4", "parallel.global_batch=4"],
     "model.n_kv_heads (2) is not divisible by parallel.tp (4)"),
    (4, ["parallel.pp=4"], "model.n_layers (2) is smaller than parallel.pp (4)"),
    (4, ["parallel.micro_batch=4", "parallel.global_batch=8"],
     "parallel.global_batch (8) is not divisible by parallel.micro_batch x data-parallel size = 4 x 4 = 16"),
    (2, ["parallel.pp=2", "parallel.zero_stage=2"],
     "parallel.zero_stage=2 cannot be combined with pipeline parallelism"),
    (2, ["parallel.pp=2", "parallel.zero_stage=0"], "computes the gradient-clipping norm wrong"),
    (2, ["parallel.tp=2", "parallel.zero_stage=0"], "use parallel.zero_stage=1"),
])
def test_bad_layouts_are_named(world, overrides, message):
    cfg = config(*overrides)
    with pytest.raises(LayoutError) as caught:
        check_layout(cfg.parallel, cfg.model, world)
    assert message in str(caught.value)
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize("name,world", [("tp2", 2), ("pp2", 2), ("tp2_dp2", 4)])
def test_example_layouts_are_valid(name, world):
    cfg = load_config(TrainConfig, REPO / "configs" / "train" / f"{name}.yaml")
    topology = check_layout(cfg.parallel, cfg.model, world)
    assert topology.world_size == world


def test_zero3_with_pipeline_says_what_to_use():
    cfg = config("parallel.pp=2", "parallel.zero_stage=3")
    with pytest.raises(LayoutError, match=r"use parallel.zero_stage=1 or parallel.pp=1"):
        check_layout(cfg.parallel, cfg.model, 2)


def test_topology_matches_deepspeed_rank_order():
    """Our coordinates agree with DeepSpeed's PipeModelDataParallelTopology (and AutoTP's (dp, tp) mesh)."""
    from deepspeed.runtime.pipe.topology import PipeModelDataParallelTopology

    topo = Topology(tp=2, pp=2, dp=3)
    theirs = PipeModelDataParallelTopology(num_pp=2, num_mp=2, num_dp=3)
    for rank in range(topo.world_size):
        coord = theirs.get_coord(rank)
        assert topo.coords(rank) == (coord.pipe, coord.data, coord.model)
        assert topo.rank(*topo.coords(rank)) == rank
    for groups in (topo.tensor_groups(), topo.data_groups(), topo.pipe_groups(), topo.model_groups()):
        assert sorted(r for g in groups for r in g) == list(range(topo.world_size))
    assert topo.tensor_groups()[0] == [0, 1] and topo.data_groups()[0] == [0, 2, 4]
    assert topo.pipe_groups()[0] == [0, 6]


def test_partition_rules_cover_every_matrix_of_the_model():
    model = Transformer(ModelConfig(n_layers=2))
    dims = {name: shard_dim(name) for name, _ in model.named_parameters()}
    assert dims["layers.1.attention.wq.weight"] == 0 and dims["layers.0.feed_forward.w3.weight"] == 0
    assert dims["layers.0.attention.wo.weight"] == 1 and dims["layers.1.feed_forward.w2.weight"] == 1
    assert dims["tok_embeddings.weight"] is None and dims["output.weight"] is None
    assert dims["layers.0.attention_norm.weight"] is None
    sharded = [n for n, d in dims.items() if d is not None]
    assert len(sharded) == 2 * 7
    section = autotp_section(2)
    assert section["autotp_size"] == 2 and section["partition_config"]["strict_mode"] is True


@pytest.mark.parametrize("pipe_name,ours", [
    ("0.tok_embeddings.weight", "tok_embeddings.weight"),
    ("tied_modules.embed.tok_embeddings.weight", "tok_embeddings.weight"),
    ("1.attention.wq.weight", "layers.0.attention.wq.weight"),
    ("2.feed_forward.w2.weight", "layers.1.feed_forward.w2.weight"),
    ("3.norm.weight", "norm.weight"),
    ("4.output.weight", "output.weight"),
])
def test_pipeline_names_map_to_model_names(pipe_name, ours):
    assert model_name(pipe_name, n_layers=2) == ours


def test_load_into_model_rejects_other_models(tmp_path):
    small = ModelConfig(vocab_size=64, dim=16, n_layers=1, n_heads=2)
    path = write_consolidated(tmp_path / CONSOLIDATED, Transformer(small).state_dict(), small, "test")
    model = Transformer(small)
    load_into_model(model, path)
    with pytest.raises(ConfigError, match="has shape"):
        load_into_model(Transformer(ModelConfig(vocab_size=64, dim=32, n_layers=1, n_heads=2)), path)
    with pytest.raises(ConfigError, match="is missing"):
        load_into_model(Transformer(ModelConfig(vocab_size=64, dim=16, n_layers=2, n_heads=2)), path)
    with pytest.raises(ConfigError, match="not found"):
        load_into_model(model, tmp_path / "nope.safetensors")


def test_adam_state_file_holds_both_moments_of_every_model_tensor(tmp_path):
    """optimizer.safetensors: "exp_avg/<name>" and "exp_avg_sq/<name>" for each key of model.safetensors,
    the step count in its metadata; a file for another model is refused naming the tensor."""
    small = ModelConfig(vocab_size=64, dim=16, n_layers=1, n_heads=2)
    moments = {name: torch.rand(shape) for name, shape in adam_names(small).items()}
    path = write_adam_state(tmp_path / OPTIMIZER, moments, 7, "test")
    assert sorted(adam_names(small)) == sorted(f"{key}/{name}" for key in ("exp_avg", "exp_avg_sq")
                                               for name in Transformer(small).state_dict())
    with open_checked(path, adam_names(small)) as handle:
        assert handle.metadata()["adam_step"] == "7"
        assert torch.equal(handle.get_tensor("exp_avg_sq/norm.weight"), moments["exp_avg_sq/norm.weight"])
    with pytest.raises(ConfigError, match=r"optimizer.safetensors: tensor 'exp_avg/layers.1.attention_norm.weight' is missing"):
        with open_checked(path, adam_names(ModelConfig(vocab_size=64, dim=16, n_layers=2, n_heads=2))):
            pass


# ---- through the real CLI ----

def test_cli_rejects_zero2_pipeline_on_every_rank_before_any_group():
    """Two real ranks with a bad layout: both exit at once with the sentence (no rendezvous, no hang)."""
    env = base_env()
    procs = []
    for rank in range(2):
        env_rank = dict(env, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                        MASTER_PORT="1")   # nothing listens on port 1: a rendezvous attempt would fail loudly
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "pipeline.train", "--config", str(TINY), "parallel.pp=2", "parallel.zero_stage=2"],
            cwd=REPO, env=env_rank, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 2
        assert "cannot be combined with pipeline parallelism" in stderr
        assert "use parallel.zero_stage=1 or parallel.pp=1" in stderr
        assert "Traceback" not in stderr


def test_cli_rejects_indivisible_world_single_process():
    result = subprocess.run([sys.executable, "-m", "pipeline.train", "--config", str(TINY), "parallel.tp=2"],
                            cwd=REPO, env=base_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "world size 1 is not divisible by parallel.tp x parallel.pp = 2 x 1 = 2" in result.stderr
    assert "Traceback" not in result.stderr


def train_in_two_runs(packed, run, ranks: int, layout: dict) -> None:
    """Steps 1-5 (train.steps=5), then a second launch to train.steps=10 that resumes from step 5's
    checkpoint (the lr schedule follows train.steps, so both phases are the same for every layout)."""
    for steps in (5, 10):
        overrides = tiny_overrides(packed, run, **{"train.steps": steps, "checkpoint.every": 5, **layout})
        assert train(overrides, ranks, run) == [0] * ranks, (run / "rank0.log").read_text()[-3000:]
    assert "resumed from" in (run / "rank0.log").read_text()


@pytest.fixture(scope="module")
def cli_reference(tmp_path_factory):
    """One process through the real CLI: losses and consolidated weights every layout must match.
    Without checkpoint.reshardable, so its weights come from DeepSpeed's ZeRO files (`zero_to_fp32`)
    and the tp/pp layouts' live-gathered ones are checked against that other path."""
    packed = write_corpus(tmp_path_factory.mktemp("packed"))
    run = tmp_path_factory.mktemp("single")
    train_in_two_runs(packed, run, 1, {"checkpoint.reshardable": False})
    weights = load_file(consolidate(run, run / "export" / CONSOLIDATED))
    return packed, read_metrics(run / "metrics.jsonl"), weights


@pytest.mark.slow
@pytest.mark.parametrize("ranks,layout", [(2, {"parallel.tp": 2}), (4, {"parallel.tp": 2, "parallel.pp": 2})])
def test_cli_run_interrupted_and_resumed_matches_single_process(tmp_path, cli_reference, ranks, layout):
    """`python -m pipeline.train` under a tp/pp layout, stopped after step 5 and resumed from its own
    checkpoint: the same losses as one process doing the same, and the final checkpoint's
    model.safetensors (written at save time) equals the single-process consolidated weights."""
    packed, expected, expected_weights = cli_reference
    train_in_two_runs(packed, tmp_path, ranks, layout)
    got = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in got] == list(range(1, 11))
    assert [r["loss"] for r in got] == pytest.approx([r["loss"] for r in expected], rel=1e-4)
    assert got[-1]["val_loss"] == pytest.approx(expected[-1]["val_loss"], rel=1e-4)
    ckpt = latest_complete(tmp_path)
    assert ckpt.name == "step_00000010" and (ckpt / CONSOLIDATED).is_file()
    weights = load_file(consolidate(tmp_path, tmp_path / "export" / CONSOLIDATED))
    assert weights.keys() == expected_weights.keys()
    for key, value in expected_weights.items():
        assert torch.allclose(weights[key], value, atol=5e-5, rtol=0), key
