"""Learning-rate schedule: linear warmup to optim.lr, then cosine decay to optim.min_lr at the last step.

A pure function of the step, so a resumed run gets the same rate without restoring scheduler state.
"""
from __future__ import annotations

import math

import torch

from pipeline.config import OptimConfig


def lr_at(step: int, optim: OptimConfig, total_steps: int) -> float:
    """Rate used for optimizer step `step` (0-based)."""
    if optim.warmup_steps and step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    decay_steps = max(1, total_steps - optim.warmup_steps)
    progress = min(1.0, (step - optim.warmup_steps) / decay_steps)
    return optim.min_lr + 0.5 * (optim.lr - optim.min_lr) * (1 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, optim: OptimConfig,
                   total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR scales the optimizer's base rate (optim.lr), so the factor is lr_at / lr."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_at(step, optim, total_steps) / optim.lr if optim.lr else 0.0)
