"""The DeepSpeed JSON, generated from the TrainConfig (never written by hand).

Gradient accumulation = global_batch / (micro_batch * data-parallel size), so the optimizer sees the
same global batch on any number of ranks. Gradient clipping is always explicit (DeepSpeed's
default silently clips at 1.0). On CPU the optimizer is torch's AdamW (`torch_adam`), which avoids
compiling DeepSpeed's fused/cpu Adam (~1 min cold); on GPU the fused kernel is kept.
"""
from __future__ import annotations

from typing import Any

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
        "optimizer": {
            "type": "AdamW",
            "params": {"lr": optim.lr, "betas": [optim.beta1, optim.beta2], "eps": optim.eps,
                       "weight_decay": optim.weight_decay},
        },
        "bf16": {"enabled": precision == "bf16"},
        "fp16": {"enabled": precision == "fp16"},
        "steps_per_print": 10**9,       # we log ourselves
        "wall_clock_breakdown": False,
    }
    if not on_gpu and not par.offload_optimizer:
        config["optimizer"]["params"]["torch_adam"] = True
    if par.tp > 1 and par.pp == 1:
        # AutoTP: deepspeed.initialize shards the model (inside a pipeline our own layers do it instead)
        config["tensor_parallel"] = autotp_section(par.tp)
    return config
