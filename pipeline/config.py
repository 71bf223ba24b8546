"""The training job's config: one typed tree loaded from YAML (`configs/train/*.yaml`).

The DeepSpeed JSON is generated from it (`pipeline/ds_config.py`), never written by hand.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Literal

from common.config import ConfigError
from common.wandb_log import WandbConfig

# Exit code of a training process that saved a checkpoint after SIGUSR1/SIGTERM and wants to be
# requeued; the Slurm batch script requeues on it. 0 = finished, anything else = crashed.
EXIT_REQUEUE = 85
# Exit code of a run the loss guard stopped (guard.max_skipped_in_row skipped steps in a row).
EXIT_DIVERGED = 3
# Exit code of a rank whose watchdog saw no step finish in time (a stalled or hung peer holds every
# rank in a collective): it dumps every thread's stack and exits; the Slurm script requeues it.
EXIT_HANG = 86
# Exit code of a rank whose accelerator failed (a CUDA error other than out-of-memory or a
# device-side assert: ECC, a GPU off the bus, an illegal instruction): most likely the node's own
# hardware, so the Slurm script requeues the job away from that node.
EXIT_NODE_FAULT = 87


@dataclasses.dataclass
class ModelConfig:
    vocab_size: int = 8192
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int | None = None      # None: same as n_heads (plain multi-head attention)
    ffn_hidden: int | None = None      # None: Llama's rule, 2/3 * 4 * dim rounded up to multiple_of
    multiple_of: int = 32
    max_seq_len: int = 256
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = False
    init_std: float = 0.02

    def validate(self) -> None:
        for name in ("vocab_size", "dim", "n_layers", "n_heads", "max_seq_len"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"model.{name} must be positive, got {getattr(self, name)}")
        if self.dim % self.n_heads:
            raise ConfigError(f"model.dim ({self.dim}) must be divisible by model.n_heads ({self.n_heads})")
        if (self.dim // self.n_heads) % 2:
            raise ConfigError(f"head dim {self.dim // self.n_heads} must be even for rotary embedding")
        if self.n_heads % self.kv_heads:
            raise ConfigError(f"model.n_heads ({self.n_heads}) must be divisible by model.n_kv_heads ({self.kv_heads})")

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def hidden_dim(self) -> int:
        if self.ffn_hidden:
            return self.ffn_hidden
        hidden = int(2 * 4 * self.dim / 3)
        return self.multiple_of * math.ceil(hidden / self.multiple_of)

    def num_params(self, embeddings: bool = True) -> int:
        """Exact parameter count of `Transformer(self)` (embeddings=False: the N of the PaLM formula)."""
        attn = self.dim * self.head_dim * (2 * self.n_heads + 2 * self.kv_heads)
        mlp = 3 * self.dim * self.hidden_dim
        block = attn + mlp + 2 * self.dim
        body = self.n_layers * block + self.dim
        if not embeddings:
            return body
        emb = self.vocab_size * self.dim
        return body + emb + (0 if self.tie_embeddings else emb)

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token, PaLM appendix B: 6N + 12 * L * H * Q * T (N without embeddings)."""
        seq = seq_len or self.max_seq_len
        return 6 * self.num_params(embeddings=False) + 12 * self.n_layers * self.n_heads * self.head_dim * seq


@dataclasses.dataclass
class RunConfig:
    dir: str = "runs/tiny"          # checkpoints, metrics.jsonl, wandb/, loss curve land here
    seed: int = 1234                # model init and dropout-free training RNG
    init_from: str | None = None    # a consolidated model.safetensors to start a NEW run from (any layout)
    # With init_from from `pretrain consolidate` (trainer_state.json beside it): continue its step
    # counter (lr schedule), data position and, with optimizer.safetensors beside it, Adam's state.
    # false: start at step 0 on the first batch with fresh Adam moments.
    init_continue: bool = True
    # Resume (or continue init_from) on data whose fingerprint differs from the checkpoint's: the
    # sample order then starts over on the new data. false: such a resume is refused.
    allow_data_change: bool = False


@dataclasses.dataclass
class DataSource:
    path: str                       # a packed directory (`dataprep pack`), e.g. one per domain
    weight: float                   # relative share of the training samples drawn from it
    name: str = ""                  # its validation loss is logged as val_loss/<name>; "" = the directory's name


@dataclasses.dataclass
class TrainDataConfig:
    packed_dir: str = "runs/sample/packed"  # output of `dataprep pack` (there for scripts/sample.sh)
    # several packed directories blended by weight (pipeline/mixture.py); when given, packed_dir is unused
    sources: list[DataSource] = dataclasses.field(default_factory=list)
    seq_len: int = 256
    data_seed: int = 1234           # sample order; independent of the number of ranks
    # Attention and rotary positions restart after every end-of-document token inside a packed
    # sample (Llama 3, torchtitan, Megatron's reset_attention_mask); false: one causal sequence.
    document_mask: bool = True
    prefetch: int = 2               # optimizer steps of batches read ahead on a background thread (0: none)

    def validate(self) -> None:
        if self.seq_len < 1 or self.prefetch < 0:
            raise ConfigError(f"data.seq_len must be >= 1 and data.prefetch >= 0, got {self.seq_len} and "
                              f"{self.prefetch}")
        for i, source in enumerate(self.sources):
            if not source.weight > 0:
                raise ConfigError(f"data.sources[{i}].weight must be > 0, got {source.weight} ({source.path})")
        paths = [s.path for s in self.sources]
        if len(set(paths)) != len(paths):
            raise ConfigError("data.sources lists a path twice: give each packed directory once, with its weight")


@dataclasses.dataclass
class OptimConfig:
    lr: float = 3e-3
    min_lr: float = 3e-4            # cosine decay floor
    warmup_steps: int = 20
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0          # always passed to DeepSpeed explicitly (its default silently clips at 1.0)

    def validate(self) -> None:
        if not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"optim.min_lr ({self.min_lr}) must be between 0 and optim.lr ({self.lr})")


@dataclasses.dataclass
class ParallelConfig:
    zero_stage: int = 1
    tp: int = 1                     # tensor-parallel degree
    pp: int = 1                     # pipeline-parallel degree
    micro_batch: int = 4            # sequences per rank per forward
    global_batch: int = 8           # sequences per optimizer step, all ranks together
    offload_optimizer: bool = False
    offload_params: bool = False
    activation_checkpointing: bool = False

    def validate(self) -> None:
        if self.zero_stage not in (0, 1, 2, 3):
            raise ConfigError(f"parallel.zero_stage must be 0, 1, 2 or 3, got {self.zero_stage}")
        if self.tp < 1 or self.pp < 1 or self.micro_batch < 1 or self.global_batch < 1:
            raise ConfigError("parallel.tp, pp, micro_batch and global_batch must all be >= 1")


@dataclasses.dataclass
class TrainLoopConfig:
    steps: int = 200
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    log_every: int = 1
    print_every: int = 10          # a progress line on the console (and the Slurm log) every this many steps
    eval_every: int = 50
    eval_batches: int = 8
    compile: bool = False          # torch.compile each transformer block (pipeline/kernels.py)
    liger_kernels: bool = False    # liger-kernel's fused RMSNorm/rotary/SwiGLU/linear+loss (CUDA only)

    def validate(self) -> None:
        if self.steps < 0 or self.log_every < 1 or self.print_every < 1 or self.eval_every < 0 or self.eval_batches < 1:
            raise ConfigError("train.steps must be >= 0, train.log_every, train.print_every and train.eval_batches "
                              ">= 1, train.eval_every >= 0 (0 = never)")


@dataclasses.dataclass
class CheckpointConfig:
    every: int = 50
    keep_last: int = 3
    # Every checkpoint also holds the whole fp32 model and Adam's full moments and step count under
    # our parameter names (model.safetensors + optimizer.safetensors, gathered from the live engine),
    # so `run.init_from` can continue it under any tp/pp/dp/ZeRO layout keeping the optimizer state.
    # Costs 12 bytes/parameter of disk per checkpoint and one gather to rank 0 per save. false:
    # tp/pp layouts still write model.safetensors, and a layout change restarts Adam's moments.
    reshardable: bool = True

    def validate(self) -> None:
        if self.every < 1 or self.keep_last < 1:
            raise ConfigError("checkpoint.every and checkpoint.keep_last must be >= 1")


@dataclasses.dataclass
class GuardConfig:
    """A step with a non-finite loss or gradient norm (or, when spike_factor > 0, a loss above
    spike_factor x the running mean) leaves the weights, optimizer and schedule as they were."""
    max_skipped_in_row: int = 10    # this many skipped steps in a row stop the run (exit 3); 0 = never stop
    spike_factor: float = 0.0       # 0 = no spike guard; e.g. 3.0 skips a step whose loss exceeds 3x the mean
    spike_window: int = 100         # steps the running mean spans; the spike guard starts after this many

    def validate(self) -> None:
        if self.max_skipped_in_row < 0 or self.spike_window < 1 or not (
                self.spike_factor == 0 or self.spike_factor > 1):
            raise ConfigError("guard.max_skipped_in_row must be >= 0, guard.spike_window >= 1 and "
                              "guard.spike_factor 0 (off) or > 1")


@dataclasses.dataclass
class HangConfig:
    """A stalled rank (a stopped process, a dead NIC, a GPU stuck in a kernel) holds every other rank
    inside a collective. The watchdog on every rank turns that into a stack dump and EXIT_HANG
    within watchdog_min_s (or watchdog_factor x the median step time, if longer), which the Slurm
    script requeues; the collective timeout is the backstop for waits outside the step loop."""
    collective_timeout_s: int = 1800    # torch.distributed timeout of every collective (gloo and NCCL)
    watchdog_min_s: float = 600.0       # 0 = no watchdog; covers start-up, evaluation and checkpoint saves
    watchdog_factor: float = 10.0       # x the median step time, when that is longer than watchdog_min_s

    def validate(self) -> None:
        if self.collective_timeout_s < 1 or self.watchdog_min_s < 0 or self.watchdog_factor < 1:
            raise ConfigError("hang.collective_timeout_s must be >= 1, hang.watchdog_min_s >= 0 (0 = off) and "
                              "hang.watchdog_factor >= 1")


@dataclasses.dataclass
class TrainConfig:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    run: RunConfig = dataclasses.field(default_factory=RunConfig)
    data: TrainDataConfig = dataclasses.field(default_factory=TrainDataConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    parallel: ParallelConfig = dataclasses.field(default_factory=ParallelConfig)
    train: TrainLoopConfig = dataclasses.field(default_factory=TrainLoopConfig)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    guard: GuardConfig = dataclasses.field(default_factory=GuardConfig)
    hang: HangConfig = dataclasses.field(default_factory=HangConfig)
    wandb: WandbConfig = dataclasses.field(default_factory=WandbConfig)

    def validate(self) -> None:
        if self.parallel.zero_stage == 3 and (self.train.compile or self.train.liger_kernels):
            # ZeRO-3 hands a module its weights only inside hooks around its own forward: compiled
            # code sees the empty partitions, and the fused loss reads the head weight directly.
            raise ConfigError("train.compile and train.liger_kernels cannot be combined with parallel.zero_stage=3; "
                              "use ZeRO 1-2 or turn them off")
        if self.data.seq_len > self.model.max_seq_len:
            raise ConfigError(f"data.seq_len ({self.data.seq_len}) exceeds model.max_seq_len ({self.model.max_seq_len})")
        if self.guard.spike_factor and self.parallel.pp > 1:
            raise ConfigError("guard.spike_factor needs parallel.pp = 1: the pipeline engine learns the loss only "
                              "after its optimizer step (non-finite gradients are still skipped)")
