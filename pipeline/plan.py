"""`pretrain plan`: will this model fit these GPUs, which layouts would, and how fast might it run.

Formulas only, no GPU needed; docs/EXPORT-AND-PLAN.md lists every assumption. In short, per GPU
of a bf16 mixed-precision AdamW run under DeepSpeed:

- model states in DeepSpeed's own bytes per parameter (its `estimate_zero2/3_model_states_mem_needs`,
  which tests/test_plan.py compares against): 16-bit params 2, 16-bit grads 2, fp32 grad partition 4,
  optimizer 12; sharded over data parallelism by ZeRO stage, moved to CPU by offloading; ZeRO-3 adds
  its gathered largest layer (4 bytes per parameter). DeepSpeed's ZeRO-3 estimate leaves out the
  16-bit gradient partition (its `grad_partitions_flat_buffer`); we count it.
- activations in bytes per token per block, equal to what autograd saves for our block in bf16
  with flash attention (also tested): 20h + 4h·kv/heads + 8f + 4a + 8, or 2h with activation checkpointing plus
  one block recomputed; the loss keeps fp32 log-probabilities (4V) and needs 8V more in backward.
- DeepSpeed's gradient bucket, a fixed CUDA/NCCL overhead and a fragmentation margin.

Throughput: tokens/s = MFU x peak x GPUs / `ModelConfig.flops_per_token` (PaLM's 6N + 12LHQT).
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import sys
from typing import Literal

from common.config import ConfigError, load_config
from pipeline.config import ModelConfig, ParallelConfig
from pipeline.hardware import GPUS
from pipeline.parallel.layout import LayoutError, check_layout, data_parallel_size

GIB = 2**30
Offload = Literal["none", "optimizer", "params"]
OFFLOADS: tuple[Offload, ...] = ("none", "optimizer", "params")

# Bytes per parameter of each model-state piece (see the module docstring).
STATE_BYTES = {"params16": 2, "grads16": 2, "grads32": 4, "optimizer": 12}
STATE_LABELS = {"params16": "parameters (bf16)", "grads16": "gradients (bf16)",
                "grads32": "gradients (fp32, optimizer step)", "optimizer": "optimizer (fp32 master + Adam m, v)",
                "gathered": "ZeRO-3 gathered largest layer"}


@dataclasses.dataclass(frozen=True)
class Assumptions:
    overhead_gib: float = 2.0        # CUDA context, NCCL and cuBLAS workspaces per GPU
    fragmentation: float = 0.10      # allocator fragmentation, as a share of everything else
    reduce_bucket: int = 500_000_000  # DeepSpeed's default reduce_bucket_size (elements)
    flash_attention: bool = True     # SDPA picks flash for bf16 causal attention on GPUs
    zero_init: bool = False          # our trainer builds the whole fp32 model on each rank's CPU first;
                                     # True: ZeRO-3 builds it partitioned (deepspeed.zero.Init)
    cpu_buffer_factor: float = 1.5   # DeepSpeed's additional_buffer_factor for CPU memory


@dataclasses.dataclass(frozen=True)
class Cluster:
    gpus_per_node: int
    nodes: int = 1
    gpu: str = "h100"
    gpu_mem_gib: float | None = None     # None: the GPU table's figure
    cpu_mem_gib: float | None = None     # per node; None: not checked

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes

    @property
    def peak_flops(self) -> float:
        return GPUS[self.gpu].peak_tflops * 1e12

    @property
    def memory_bytes(self) -> float:
        return (self.gpu_mem_gib if self.gpu_mem_gib is not None else GPUS[self.gpu].memory_gib) * GIB


@dataclasses.dataclass(frozen=True)
class Layout:
    zero: int = 1
    offload: Offload = "none"
    tp: int = 1
    pp: int = 1
    micro_batch: int = 1
    activation_checkpointing: bool = False

    def describe(self) -> str:
        return (f"ZeRO-{self.zero}, offload {self.offload}, tp {self.tp}, pp {self.pp}, micro-batch "
                f"{self.micro_batch}, activation checkpointing {'on' if self.activation_checkpointing else 'off'}")


@dataclasses.dataclass
class Estimate:
    layout: Layout
    dp: int
    stage: str                     # which pipeline stage is the heaviest ("all" without pp)
    gpu: dict[str, float]          # piece -> bytes per GPU
    cpu_per_node: float
    total: float
    fits: bool
    cpu_fits: bool

    def as_dict(self) -> dict:
        return {"layout": dataclasses.asdict(self.layout), "dp": self.dp, "heaviest_stage": self.stage,
                "gpu_bytes": self.gpu, "gpu_total_bytes": self.total, "cpu_bytes_per_node": self.cpu_per_node,
                "fits": self.fits, "cpu_fits": self.cpu_fits}


def layout_error(cfg: ModelConfig, layout: Layout, cluster: Cluster) -> str | None:
    """Why our trainer cannot run `layout` on `cluster` (its own checks), or None."""
    if layout.offload != "none" and layout.zero < 2:
        return "offloading needs ZeRO stage 2 or 3"
    if layout.offload == "params" and layout.zero != 3:
        return "offloading parameters needs ZeRO stage 3"
    if layout.tp > cluster.gpus_per_node:
        return f"tensor parallelism ({layout.tp}) must stay within a node ({cluster.gpus_per_node} GPUs)"
    # micro_batch x GPUs divides into any runnable layout's micro-batches: only the layout is checked
    par = ParallelConfig(zero_stage=layout.zero, tp=layout.tp, pp=layout.pp, micro_batch=layout.micro_batch,
                         global_batch=layout.micro_batch * cluster.gpus)
    try:
        check_layout(par, cfg, cluster.gpus)
    except LayoutError as exc:
        return str(exc)
    return None


def stage_params(cfg: ModelConfig, tp: int, pp: int) -> dict[str, int]:
    """Parameters one GPU holds (before ZeRO) on the first and the last pipeline stage."""
    emb = cfg.vocab_size * cfg.dim
    attn = cfg.dim * cfg.head_dim * (2 * cfg.n_heads + 2 * cfg.kv_heads)
    block = (attn + 3 * cfg.dim * cfg.hidden_dim) // tp + 2 * cfg.dim
    blocks = math.ceil(cfg.n_layers / pp) * block
    if pp == 1:
        return {"all": cfg.n_layers * block + cfg.dim + emb * (1 if cfg.tie_embeddings else 2)}
    # A tied embedding has a copy on the first and on the last stage.
    return {"first": emb + blocks, "last": blocks + cfg.dim + emb}


def largest_layer_params(cfg: ModelConfig, tp: int) -> int:
    """DeepSpeed's `largest_layer_params`: the most parameters any one module owns directly."""
    return max(cfg.vocab_size * cfg.dim, cfg.hidden_dim * cfg.dim // tp, cfg.n_heads * cfg.head_dim * cfg.dim // tp)


def model_states(params: float, largest_layer: int, dp: int, zero: int, offload: Offload
                 ) -> tuple[dict[str, float], dict[str, float]]:
    """Bytes of parameters, gradients and optimizer states per rank: (on its GPU, offloaded to CPU)."""
    sharded = {"params16": zero >= 3, "grads16": zero >= 2, "grads32": zero >= 1, "optimizer": zero >= 1}
    offloaded = {"params16": offload == "params", "grads16": offload != "none",
                 "grads32": offload != "none", "optimizer": offload != "none"}
    gpu: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for piece, nbytes in STATE_BYTES.items():
        size = nbytes * params / (dp if sharded[piece] else 1)
        gpu[piece], cpu[piece] = (0.0, size) if offloaded[piece] else (size, 0.0)
    if offload != "none" and zero < 3:
        # ZeRO-1/2 offload copies reduced 16-bit buckets straight into the fp32 CPU partition.
        cpu["grads16"] = 0.0
    gpu["gathered"] = 4 * largest_layer if zero == 3 else 0.0
    return gpu, cpu


def cpu_per_node(params: float, largest_layer: int, zero: int, offloaded_per_rank: float,
                 gpus_per_node: int, assume: Assumptions) -> float:
    """The larger of model initialisation (an fp32 copy per process, only the largest layer under
    ZeRO-3's zero.Init) and the offloaded states, times DeepSpeed's buffer factor."""
    init = 4 * (largest_layer if zero == 3 and assume.zero_init else params) * gpus_per_node
    return max(init, offloaded_per_rank * gpus_per_node) * assume.cpu_buffer_factor


def activation_bytes_per_token(cfg: ModelConfig, seq_len: int, tp: int = 1, flash: bool = True) -> float:
    """Bytes autograd keeps per token for one transformer block (bf16, no checkpointing)."""
    h, f, a = cfg.dim, cfg.hidden_dim, cfg.n_heads
    kv_share = cfg.kv_heads / cfg.n_heads           # k and v are saved at their own (grouped) width
    split = 4 * h + 4 * h * kv_share + 8 * f + 4 * a + (0 if flash else 2 * a * seq_len)
    return 16 * h + split / tp + 8


def activations(cfg: ModelConfig, layout: Layout, seq_len: int, stage: str, flash: bool) -> tuple[float, float]:
    """(block activations, logits) bytes on one GPU of `stage`."""
    tokens = layout.micro_batch * seq_len
    per_block = activation_bytes_per_token(cfg, seq_len, layout.tp, flash) * tokens
    blocks = math.ceil(cfg.n_layers / layout.pp)
    in_flight = layout.pp if stage == "first" else 1
    if layout.activation_checkpointing:
        kept = in_flight * blocks * 2 * cfg.dim * tokens + per_block
    else:
        kept = in_flight * blocks * per_block
    has_head = stage in ("all", "last")
    return kept, head_bytes_per_token(cfg) * tokens if has_head else 0.0


def head_bytes_per_token(cfg: ModelConfig, transient: bool = True) -> float:
    """Final norm (8h + 4, as in a block), token ids (8) and loss: fp32 log-probabilities kept (4V),
    plus their gradient and the fp32 logits gradient during backward (8V, `transient`)."""
    return 8 * cfg.dim + 12 + (4 + (8 if transient else 0)) * cfg.vocab_size


def estimate(cfg: ModelConfig, layout: Layout, cluster: Cluster, seq_len: int,
             assume: Assumptions = Assumptions()) -> Estimate:
    """Memory of the heaviest GPU for `layout` (validity is `layout_error`'s job)."""
    dp = data_parallel_size(layout.tp, layout.pp, cluster.gpus)
    largest = largest_layer_params(cfg, layout.tp)
    worst: Estimate | None = None
    for stage, params in stage_params(cfg, layout.tp, layout.pp).items():
        gpu, offloaded = model_states(params, largest, dp, layout.zero, layout.offload)
        cpu = cpu_per_node(params, largest, layout.zero, sum(offloaded.values()), cluster.gpus_per_node, assume)
        gpu["buckets"] = 2 * min(assume.reduce_bucket, params) if layout.zero >= 1 else 0.0
        gpu["activations"], gpu["logits"] = activations(cfg, layout, seq_len, stage, assume.flash_attention)
        gpu["overhead"] = assume.overhead_gib * GIB
        gpu["fragmentation"] = assume.fragmentation * sum(gpu.values())
        total = sum(gpu.values())
        cpu_fits = cluster.cpu_mem_gib is None or cpu <= cluster.cpu_mem_gib * GIB
        candidate = Estimate(layout, dp, stage, gpu, cpu, total, total <= cluster.memory_bytes, cpu_fits)
        if worst is None or total > worst.total:
            worst = candidate
    return worst


def tokens_per_second(cfg: ModelConfig, cluster: Cluster, seq_len: int, mfu: float) -> float:
    return mfu * cluster.peak_flops * cluster.gpus / cfg.flops_per_token(seq_len)


def search(cfg: ModelConfig, cluster: Cluster, seq_len: int, assume: Assumptions = Assumptions(),
           max_micro_batch: int = 64) -> list[Estimate]:
    """For each runnable (zero, offload, tp, pp, checkpointing), the largest power-of-two
    micro-batch that fits, best first: no offload, least model parallelism, no recomputation,
    biggest micro-batch, lowest ZeRO stage (least communication)."""
    degrees = [d for d in range(1, cluster.gpus + 1) if cluster.gpus % d == 0]
    found = []
    for zero, offload, tp, pp, ac in itertools.product(range(4), OFFLOADS, degrees, degrees, (False, True)):
        if layout_error(cfg, Layout(zero, offload, tp, pp, 1, ac), cluster):
            continue
        best = None
        micro = 1
        while micro <= max_micro_batch:
            est = estimate(cfg, Layout(zero, offload, tp, pp, micro, ac), cluster, seq_len, assume)
            if not (est.fits and est.cpu_fits):
                break
            best, micro = est, micro * 2
        if best is not None:
            found.append(best)

    def rank(est: Estimate):
        lay = est.layout
        return (OFFLOADS.index(lay.offload), lay.tp * lay.pp, lay.activation_checkpointing, -lay.micro_batch,
                lay.zero)
    return sorted(found, key=rank)


def _gib(nbytes: float) -> str:
    return f"{nbytes / GIB:8.2f}"


def report(cfg: ModelConfig, name: str, cluster: Cluster, seq_len: int, est: Estimate, mfu: float,
           suggestions: list[Estimate], problem: str | None) -> str:
    lay = est.layout
    lines = [
        f"model {name}: {cfg.num_params() / 1e9:.3f}B parameters ({cfg.num_params(embeddings=False) / 1e9:.3f}B "
        f"without embeddings), {cfg.n_layers} layers, dim {cfg.dim}, seq_len {seq_len}",
        f"cluster: {cluster.nodes} node(s) x {cluster.gpus_per_node} {cluster.gpu} = {cluster.gpus} GPUs, "
        f"{cluster.memory_bytes / GIB:.1f} GiB each",
        f"layout: {lay.describe()}, data parallel {est.dp}"
        + (f" (heaviest pipeline stage: {est.stage})" if lay.pp > 1 else ""),
    ]
    if problem:
        lines.append(f"NOT RUNNABLE by our trainer: {problem}")
    lines.append("per-GPU memory                              GiB")
    labels = {**STATE_LABELS, "buckets": "DeepSpeed gradient bucket", "activations": "activations (blocks)",
              "logits": "logits + loss", "overhead": "CUDA/NCCL overhead",
              "fragmentation": "fragmentation margin"}
    for piece, nbytes in est.gpu.items():
        if nbytes == 0:     # sharded away, offloaded (see CPU memory) or not used by this layout
            continue
        lines.append(f"  {labels[piece]:<38}{_gib(nbytes)}")
    verdict = "fits" if est.fits else "does NOT fit"
    lines.append(f"  {'total':<38}{_gib(est.total)}  of {cluster.memory_bytes / GIB:.1f} -> {verdict}")
    cpu_note = "" if cluster.cpu_mem_gib is None else (
        f" of {cluster.cpu_mem_gib:.0f} -> {'fits' if est.cpu_fits else 'does NOT fit'}")
    lines.append(f"CPU memory per node: {est.cpu_per_node / GIB:.1f} GiB{cpu_note}")
    tps = tokens_per_second(cfg, cluster, seq_len, mfu)
    lines.append(f"throughput at MFU {mfu:.2f}: {tps:,.0f} tokens/s ({tps / cluster.gpus:,.0f} per GPU; "
                 f"{cfg.flops_per_token(seq_len):.3e} FLOPs/token, {cluster.peak_flops / 1e12:.0f} TFLOP/s peak)")
    if suggestions:
        lines.append("layouts that fit, best first (largest micro-batch that fits):")
        lines.append("  zero  offload    tp  pp  dp  micro  ckpt   GiB/GPU")
        for sug in suggestions:
            s = sug.layout
            lines.append(f"  {s.zero:>4}  {s.offload:<9}{s.tp:>4}{s.pp:>4}{sug.dp:>4}{s.micro_batch:>7}  "
                         f"{'on' if s.activation_checkpointing else 'off':<4}{_gib(sug.total)}")
    else:
        lines.append("no layout fits on this cluster")
    return "\n".join(lines)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan", help="estimate per-GPU memory and throughput, list the layouts that fit",
        description="Memory per GPU (model states, activations, overhead) for a model and parallel layout, "
                    "whether it fits, which layouts would, and tokens/s at an assumed MFU. Formulas only: "
                    "see docs/EXPORT-AND-PLAN.md for the assumptions.")
    parser.add_argument("--model", required=True, help="model YAML, e.g. configs/model/7b.yaml")
    parser.add_argument("--gpus", type=int, required=True, help="GPUs per node")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--gpu", choices=sorted(GPUS), default="h100", help="GPU type (peak FLOPs, memory)")
    parser.add_argument("--gpu-mem-gib", type=float, help="usable memory per GPU (default: the GPU type's)")
    parser.add_argument("--cpu-mem-gib", type=float, help="CPU memory per node to check offloading against")
    parser.add_argument("--zero", type=int, choices=range(4), default=1)
    parser.add_argument("--offload", choices=OFFLOADS, default="none",
                        help="optimizer: optimizer states + gradients to CPU; params: also the parameters")
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--pp", type=int, default=1)
    parser.add_argument("--micro-batch", type=int, default=1)
    parser.add_argument("--seq-len", type=int, help="default: the model's max_seq_len")
    parser.add_argument("--activation-checkpointing", action="store_true")
    parser.add_argument("--mfu", type=float, default=0.4, help="assumed model FLOPs utilisation")
    parser.add_argument("--overhead-gib", type=float, default=Assumptions.overhead_gib)
    parser.add_argument("--fragmentation", type=float, default=Assumptions.fragmentation)
    parser.add_argument("--no-flash", action="store_true", help="attention without flash (s^2 scores kept)")
    parser.add_argument("--zero-init", action="store_true",
                        help="CPU figure for a trainer that builds ZeRO-3 models partitioned (deepspeed.zero.Init)")
    parser.add_argument("--suggestions", type=int, default=10, help="how many fitting layouts to list")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    cfg = load_config(ModelConfig, args.model)
    for name in ("gpus", "nodes", "tp", "pp", "micro_batch"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("gpu_mem_gib", "cpu_mem_gib", "seq_len"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive")
    if not 0 < args.mfu <= 1:
        raise ConfigError(f"--mfu must be in (0, 1], got {args.mfu}")
    if args.overhead_gib < 0 or args.fragmentation < 0:
        raise ConfigError("--overhead-gib and --fragmentation must not be negative")
    seq_len = args.seq_len or cfg.max_seq_len
    if seq_len > cfg.max_seq_len:
        raise ConfigError(f"--seq-len {seq_len} exceeds model.max_seq_len ({cfg.max_seq_len}) of {args.model}")
    cluster = Cluster(args.gpus, args.nodes, args.gpu, args.gpu_mem_gib, args.cpu_mem_gib)
    assume = Assumptions(overhead_gib=args.overhead_gib, fragmentation=args.fragmentation,
                         flash_attention=not args.no_flash, zero_init=args.zero_init)
    layout = Layout(args.zero, args.offload, args.tp, args.pp, args.micro_batch, args.activation_checkpointing)
    try:
        data_parallel_size(layout.tp, layout.pp, cluster.gpus)
    except LayoutError:
        raise ConfigError(f"{cluster.gpus} GPUs are not divisible by --tp x --pp = {layout.tp * layout.pp}") from None
    problem = layout_error(cfg, layout, cluster)
    est = estimate(cfg, layout, cluster, seq_len, assume)
    suggestions = search(cfg, cluster, seq_len, assume)[:args.suggestions]
    if args.json:
        json.dump({"model": args.model, "num_params": cfg.num_params(), "seq_len": seq_len,
                   "cluster": dataclasses.asdict(cluster), "assumptions": dataclasses.asdict(assume),
                   "estimate": est.as_dict(), "runnable": problem is None, "problem": problem,
                   "tokens_per_second": tokens_per_second(cfg, cluster, seq_len, args.mfu), "mfu": args.mfu,
                   "suggestions": [s.as_dict() for s in suggestions]}, sys.stdout, indent=2)
        print()
    else:
        print(report(cfg, args.model, cluster, seq_len, est, args.mfu, suggestions, problem))
    return 0 if est.fits and est.cpu_fits and problem is None else 1
