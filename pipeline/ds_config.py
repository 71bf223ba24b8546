"""The DeepSpeed JSON, generated from the TrainConfig (never written by hand).

Gradient accumulation = global_batch / (micro_batch * data-parallel size), so the optimizer sees the
same global batch on any number of ranks. Gradient clipping is always explicit (DeepSpeed's
default silently clips at 1.0).

The optimizer is torch's fused AdamW on CPU and GPU alike (`make_optimizer`, handed to
`deepspeed.initialize`): one kernel per step over all parameters, 8x faster than the multi-tensor
form on CPU (`benchmarks/bench_train.py --optimizer`), and nothing to compile, where DeepSpeed's own
fused and CPU Adams are built on first use (~1 min cold). Only ZeRO-Offload keeps DeepSpeed's CPU
Adam, which it requires; that one is named in the JSON.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from common.config import ConfigError
from pipeline.config import TrainConfig
from pipeline.parallel.layout import accumulation_steps, data_parallel_size
from pipeline.parallel.tensor import autotp_section


def build_ds_config(cfg: TrainConfig, world_size: int, on_gpu: bool | None = None) -> dict[str, Any]:
    on_gpu = torch.cuda.is_available() if on_gpu is None else on_gpu
    par, optim, precision = cfg.parallel, cfg.optim, cfg.train.precision
    if precision == "fp16" and not on_gpu:
        raise ConfigError("train.precision fp16 is not supported on CPU (DeepSpeed refuses it); use bf16 or fp32")
    if (par.offload_optimizer or par.offload_params) and par.zero_stage < 2:
        raise ConfigError("parallel.offload_optimizer needs parallel.zero_stage >= 2 "
                          "(and offload_params needs stage 3)")
    if par.offload_params and par.zero_stage != 3:
        raise ConfigError("parallel.offload_params needs parallel.zero_stage 3")
    zero: dict[str, Any] = {"stage": par.zero_stage}
    if par.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": on_gpu}
    if par.offload_params:
        zero["offload_param"] = {"device": "cpu", "pin_memory": on_gpu}
    config: dict[str, Any] = {
        "train_batch_size": par.global_batch,
        "train_micro_batch_size_per_gpu": par.micro_batch,
        "gradient_accumulation_steps": accumulation_steps(par.global_batch, par.micro_batch,
                                                          data_parallel_size(par.tp, par.pp, world_size)),
        "gradient_clipping": optim.grad_clip,
        "zero_optimization": zero,
        "bf16": {"enabled": precision == "bf16"},
        "fp16": {"enabled": precision == "fp16"},
        "steps_per_print": 10**9,       # we log ourselves
        "wall_clock_breakdown": False,
    }
    if par.offload_optimizer:
        config["optimizer"] = {"type": "AdamW", "params": _adamw_settings(cfg)}
    if par.tp > 1 and par.pp == 1:
        # AutoTP: deepspeed.initialize shards the model (inside a pipeline our own layers do it instead)
        config["tensor_parallel"] = autotp_section(par.tp)
    return config


def _adamw_settings(cfg: TrainConfig) -> dict[str, Any]:
    optim = cfg.optim
    return {"lr": optim.lr, "betas": (optim.beta1, optim.beta2), "eps": optim.eps,
            "weight_decay": optim.weight_decay}


def make_optimizer(cfg: TrainConfig) -> Callable[[Iterable[Any]], torch.optim.Optimizer] | None:
    """What `deepspeed.initialize(optimizer=...)` builds the optimizer with: torch's fused AdamW over
    the parameter groups it is given (weight decay per group), or None under ZeRO-Offload, where
    the JSON's optimizer section names DeepSpeed's CPU Adam."""
    if cfg.parallel.offload_optimizer:
        return None
    return lambda groups: torch.optim.AdamW(groups, **_adamw_settings(cfg), fused=True)
