"""`pretrain plan`: model states agree with DeepSpeed's own estimators, activation bytes with what
autograd really saves for our model, and the layouts it suggests fit."""
from __future__ import annotations

import contextlib
import io
import json
import re

import pytest
import torch
from deepspeed.runtime.zero import stage3
from deepspeed.runtime.zero import stage_1_and_2 as stage2
from torch.nn.attention import SDPBackend, sdpa_kernel

from common.config import load_config
from pipeline import cli
from pipeline import plan
from pipeline.config import ModelConfig
from pipeline.hardware import GPUS, peak_flops
from pipeline.model import Rotary, Transformer, TransformerBlock

GIB = 2**30
# (total params, largest layer, GPUs per node, nodes): 3M to 70B, one GPU to a multi-node job.
CASES = [(125_000_000, 49_152_000, 1, 1), (6_738_000_000, 262_144_000, 8, 1), (6_738_000_000, 262_144_000, 8, 4),
         (70_000_000_000, 1_048_576_000, 4, 2), (3_000_000, 524_288, 2, 3)]


def printed_estimates(estimator, *args) -> dict[frozenset, tuple[float, float]]:
    """What DeepSpeed's `*_all_cold` prints: {(option, offloaded or value)} -> (CPU GiB, GPU GiB)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        estimator(*args)
    rows = re.findall(r"^\s*([\d.]+)GB \|\s*([\d.]+)GB \| (.+)$", out.getvalue(), re.M)
    assert rows, out.getvalue()
    table = {}
    for cpu, gpu, options in rows:
        pairs = (part.split("=") for part in options.split(", "))
        key = frozenset((k, v.strip() != "none" if k.startswith("offload") else v.strip()) for k, v in pairs)
        table[key] = (float(cpu), float(gpu))
    return table


def model_state_sum(pieces: dict[str, float], skip: tuple[str, ...] = ()) -> float:
    return sum(v for k, v in pieces.items() if k in plan.STATE_BYTES and k not in skip) + pieces.get("gathered", 0)


@pytest.mark.parametrize("params,largest,gpn,nodes", CASES)
def test_zero2_matches_deepspeed(params, largest, gpn, nodes):
    printed = printed_estimates(stage2.estimate_zero2_model_states_mem_needs_all_cold, params, gpn, nodes)
    dp = gpn * nodes
    for offload in ("none", "optimizer"):
        ds_cpu, ds_gpu = stage2.estimate_zero2_model_states_mem_needs(params, gpn, nodes, cpu_offload=offload != "none")
        gpu, cpu = plan.model_states(params, largest, dp, 2, offload)
        ours_gpu = model_state_sum(gpu)
        assert ours_gpu == pytest.approx(ds_gpu, abs=1)
        ours_cpu = plan.cpu_per_node(params, largest, 2, sum(cpu.values()), gpn, plan.Assumptions())
        # DeepSpeed's ZeRO-2 offload figure is the whole job's CPU memory (init 4 bytes x all GPUs,
        # 16 bytes x all parameters); without offload it is per node. Ours is always per node.
        assert ours_cpu * (nodes if offload != "none" else 1) == pytest.approx(ds_cpu, rel=1e-9)
        printed_gpu = printed[frozenset({("offload_optimizer", offload != "none")})][1]
        assert printed_gpu == pytest.approx(ours_gpu / GIB, abs=0.006)


@pytest.mark.parametrize("params,largest,gpn,nodes", CASES)
@pytest.mark.parametrize("zero_init", [True, False])
def test_zero3_matches_deepspeed(params, largest, gpn, nodes, zero_init):
    printed = printed_estimates(stage3.estimate_zero3_model_states_mem_needs_all_cold, params, largest, gpn, nodes)
    assume = plan.Assumptions(zero_init=zero_init)
    for offload in plan.OFFLOADS:
        ds_cpu, ds_gpu, _ = stage3.estimate_zero3_model_states_mem_needs(
            params, largest, gpn, nodes, cpu_offload=offload != "none", cpu_offload_params=offload == "params",
            zero_init=zero_init)
        gpu, cpu = plan.model_states(params, largest, gpn * nodes, 3, offload)
        # DeepSpeed's ZeRO-3 accounting leaves out the 16-bit gradient partition (its
        # grad_partitions_flat_buffer, on GPU or pinned CPU); we count it, so compare without it.
        assert gpu["grads16"] + cpu["grads16"] == pytest.approx(2 * params / (gpn * nodes))
        ours_gpu = model_state_sum(gpu, skip=("grads16",))
        assert ours_gpu == pytest.approx(ds_gpu, abs=1)
        offloaded = sum(v for k, v in cpu.items() if k != "grads16")
        assert plan.cpu_per_node(params, largest, 3, offloaded, gpn, assume) == pytest.approx(ds_cpu, rel=1e-9)
        key = frozenset({("offload_param", offload == "params"), ("offload_optimizer", offload != "none"),
                         ("zero_init", str(int(zero_init)))})
        assert printed[key] == pytest.approx((ds_cpu / GIB, ours_gpu / GIB), abs=0.006)


@pytest.mark.parametrize("tied", [False, True])
def test_parameter_counts_match_deepspeeds_view_of_our_model(tied):
    cfg = ModelConfig(vocab_size=512, dim=64, n_layers=3, n_heads=4, n_kv_heads=2, tie_embeddings=tied)
    total, largest = stage3.model_to_params(Transformer(cfg))
    assert plan.stage_params(cfg, tp=1, pp=1) == {"all": total}
    assert plan.largest_layer_params(cfg, tp=1) == largest


def saved_bytes_per_token(module: torch.nn.Module, forward, seq_len: int) -> float:
    """Bytes autograd saves for backward per extra token (flash attention, parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}

    def measure(batch: int) -> int:
        storages = {}

        def pack(t):
            if t.untyped_storage().data_ptr() not in params:
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            forward(batch)
        return sum(storages.values())
    return (measure(3) - measure(1)) / (2 * seq_len)


@pytest.mark.parametrize("kv_heads", [None, 2])
def test_activation_formula_equals_what_autograd_saves(kv_heads):
    torch.manual_seed(0)
    seq = 32
    cfg = ModelConfig(vocab_size=300, dim=64, n_layers=2, n_heads=4, n_kv_heads=kv_heads, max_seq_len=seq)
    block = TransformerBlock(cfg).to(torch.bfloat16)
    cos, sin = Rotary(cfg)(seq)
    per_block = plan.activation_bytes_per_token(cfg, seq)
    got = saved_bytes_per_token(
        block, lambda b: block(torch.randn(b, seq, cfg.dim, dtype=torch.bfloat16, requires_grad=True), cos, sin),
        seq)
    assert got == per_block

    model = Transformer(cfg).to(torch.bfloat16).train()
    head = plan.head_bytes_per_token(cfg, transient=False)

    def step(batch):
        tokens = torch.randint(0, cfg.vocab_size, (batch, seq))
        return model(tokens, tokens)
    assert saved_bytes_per_token(model, step, seq) == cfg.n_layers * per_block + head
    model.activation_checkpointing = True
    assert saved_bytes_per_token(model, step, seq) == cfg.n_layers * 2 * cfg.dim + head


@pytest.fixture(scope="module")
def seven_b():
    return load_config(ModelConfig, "configs/model/7b.yaml")


def test_7b_on_one_80gb_gpu_needs_offload(seven_b):
    one_gpu = plan.Cluster(gpus_per_node=1, gpu="h100", gpu_mem_gib=80)
    for zero in range(4):
        est = plan.estimate(seven_b, plan.Layout(zero=zero, micro_batch=1, activation_checkpointing=True),
                            one_gpu, 4096)
        assert not est.fits, zero
    fitting = plan.search(seven_b, one_gpu, 4096)
    assert fitting and all(est.layout.offload != "none" for est in fitting)
    assert plan.estimate(seven_b, plan.Layout(zero=3, offload="params", activation_checkpointing=True),
                         one_gpu, 4096).fits
    # ZeRO-Offload keeps >= 16 bytes/param in CPU memory x DeepSpeed's 1.5 buffer factor: 7B needs ~156 GiB.
    host = {gib: plan.Cluster(gpus_per_node=1, gpu="h100", gpu_mem_gib=80, cpu_mem_gib=gib) for gib in (128, 256)}
    assert plan.search(seven_b, host[128], 4096) == []
    assert plan.search(seven_b, host[256], 4096)


def test_zero_offload_paper_13b_on_one_v100():
    """ZeRO-Offload (Ren et al. 2021) trains 13B parameters on a single 32 GB V100."""
    cfg = ModelConfig(vocab_size=32000, dim=5120, n_layers=40, n_heads=40, max_seq_len=1024)
    v100 = plan.Cluster(gpus_per_node=1, gpu="v100")
    assert 12.5e9 < cfg.num_params() < 13.5e9
    layout = plan.Layout(zero=2, offload="optimizer", micro_batch=1, activation_checkpointing=True)
    assert plan.estimate(cfg, layout, v100, 1024).fits
    assert not plan.estimate(cfg, plan.Layout(zero=2, activation_checkpointing=True), v100, 1024).fits


def test_125m_fits_and_suggestions_fit(seven_b):
    small = load_config(ModelConfig, "configs/model/125m.yaml")
    one_gpu = plan.Cluster(gpus_per_node=1, gpu_mem_gib=80)
    est = plan.estimate(small, plan.Layout(zero=0, micro_batch=8), one_gpu, 2048)
    assert est.fits and est.total < 40 * GIB

    cluster = plan.Cluster(gpus_per_node=8, nodes=2, gpu="h100")
    suggestions = plan.search(seven_b, cluster, 4096)
    assert suggestions
    for sug in suggestions:
        assert plan.layout_error(seven_b, sug.layout, cluster) is None
        assert plan.estimate(seven_b, sug.layout, cluster, 4096).fits
        bigger = plan.Layout(**{**sug.layout.__dict__, "micro_batch": sug.layout.micro_batch * 2})
        assert sug.layout.micro_batch == 64 or not plan.estimate(seven_b, bigger, cluster, 4096).fits
    assert suggestions[0].layout.offload == "none" and suggestions[0].layout.tp * suggestions[0].layout.pp == 1
    # Our trainer's own rules: no ZeRO-2/3 inside a pipeline, offload only from ZeRO-2.
    for sug in suggestions:
        lay = sug.layout
        assert not (lay.pp > 1 and lay.zero >= 2)
        assert lay.offload == "none" or lay.zero >= 2


def test_pipeline_first_stage_holds_pp_micro_batches(seven_b):
    cluster = plan.Cluster(gpus_per_node=8, gpu="h100")
    one = plan.estimate(seven_b, plan.Layout(zero=1, pp=1), cluster, 4096)
    four = plan.estimate(seven_b, plan.Layout(zero=1, pp=4), cluster, 4096)
    # 1F1B: 4 micro-batches x 8 blocks on the first stage = 32 blocks, as without a pipeline.
    assert four.stage == "first"
    assert four.gpu["activations"] == pytest.approx(one.gpu["activations"])
    assert four.gpu["params16"] < one.gpu["params16"] / 3


def test_cli_text_and_json(capsys):
    rc = cli.main(["plan", "--model", "configs/model/7b.yaml", "--gpus", "8", "--zero", "3", "--seq-len", "4096",
                   "--activation-checkpointing", "--mfu", "0.4", "--gpu", "h100"])
    text = capsys.readouterr().out
    assert rc == 0 and "fits" in text and "layouts that fit" in text
    rc = cli.main(["plan", "--model", "configs/model/7b.yaml", "--gpus", "1", "--gpu-mem-gib", "80", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 1 and data["estimate"]["fits"] is False
    cfg = load_config(ModelConfig, "configs/model/7b.yaml")
    assert data["tokens_per_second"] == pytest.approx(0.4 * 989e12 / cfg.flops_per_token(cfg.max_seq_len))
    assert data["suggestions"] and all(s["layout"]["offload"] != "none" for s in data["suggestions"])
    rc = cli.main(["plan", "--model", "configs/model/7b.yaml", "--gpus", "8", "--pp", "2", "--zero", "3"])
    assert rc == 1 and "NOT RUNNABLE by our trainer: parallel.zero_stage=3" in capsys.readouterr().out
    rc = cli.main(["plan", "--model", "configs/model/7b.yaml", "--gpus", "8", "--tp", "3"])
    assert rc == 2 and "not divisible by --tp x --pp" in capsys.readouterr().err


def test_mfu_peak_known_for_every_planner_gpu():
    """One table for the planner and the training metrics: every --gpu choice has a device-name
    match, and the more specific name wins (PCIe, 40 GB, L40S over L4)."""
    for gpu in GPUS.values():
        assert peak_flops("NVIDIA " + " ".join(gpu.name_parts)) == gpu.peak_tflops * 1e12
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12 and peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops("NVIDIA L40S") == 362e12 and peak_flops("NVIDIA L4") == 121e12
    assert peak_flops("AMD Instinct MI300X") == 1307e12 and peak_flops("NVIDIA H800") == 989e12
    assert peak_flops(None) is None and peak_flops("some CPU") is None
