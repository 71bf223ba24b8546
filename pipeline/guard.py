"""Loss guards: a step whose loss or gradient norm is not finite, or whose loss spikes, must not
move the weights; too many in a row stop the run.

The engine asks `LossGuard.accepts(loss)` with the global batch's loss before its optimizer step
and, when refused, runs the step without updating (`engines/base.py`); DeepSpeed itself drops a
step whose gradient norm is not finite. Either way the step's batch is consumed and the lr
schedule moves on, so a resumed run replays the same steps. The guard's state (counts and the
running mean) lives in the checkpoint for the same reason.
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable

import torch

from pipeline.config import GuardConfig

# Test-only fault injection: comma-separated 1-based steps whose loss the forward pass turns into
# NaN (so the NaN reaches the gradients as in a real divergence). Never set it in a real run.
NAN_STEPS_ENV = "PRETRAIN_TEST_NAN_STEPS"


class TrainingDiverged(RuntimeError):
    """guard.max_skipped_in_row steps in a row were skipped; the message says what to do."""


class LossGuard:
    def __init__(self, cfg: GuardConfig, state: dict[str, Any] | None = None):
        state = state or {}
        self.cfg = cfg
        self.skipped = int(state.get("skipped_steps", 0))
        self.in_row = int(state.get("skipped_in_row", 0))
        self.good = int(state.get("good_steps", 0))
        self.mean: float | None = state.get("loss_mean")
        self.last_reason: str | None = None

    def reason(self, loss: float) -> str | None:
        """Why a step with this global loss must not update the weights, or None."""
        if not math.isfinite(loss):
            return f"non-finite loss {loss}"
        if self.cfg.spike_factor and self.good >= self.cfg.spike_window and loss > self.cfg.spike_factor * self.mean:
            return f"loss spike {loss:.4g} > {self.cfg.spike_factor:g} x running mean {self.mean:.4g}"
        return None

    def accepts(self, loss: float) -> bool:
        return self.reason(loss) is None

    def after_step(self, loss: float, applied: bool) -> str | None:
        """Record a finished step; the reason it was skipped, or None when it updated the weights."""
        reason = self.reason(loss) or (None if applied else "non-finite gradient norm")
        self.last_reason = reason
        if reason is None:
            self.in_row = 0
            self.good += 1
            alpha = 1 / min(self.good, self.cfg.spike_window)     # the plain mean of the first steps, then an EMA
            self.mean = loss if self.mean is None else self.mean + alpha * (loss - self.mean)
        else:
            self.skipped += 1
            self.in_row += 1
        return reason

    @property
    def exhausted(self) -> bool:
        return self.cfg.max_skipped_in_row > 0 and self.in_row >= self.cfg.max_skipped_in_row

    def state(self) -> dict[str, Any]:
        return {"skipped_steps": self.skipped, "skipped_in_row": self.in_row, "good_steps": self.good,
                "loss_mean": self.mean}


def install_nan_faults(model: torch.nn.Module, next_step: Callable[[], int]) -> None:
    """With PRETRAIN_TEST_NAN_STEPS set (tests only), the training loss of those steps becomes NaN."""
    steps = {int(s) for s in os.environ.get(NAN_STEPS_ENV, "").split(",") if s.strip()}
    if not steps:
        return

    def poison(module: torch.nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        return output * float("nan") if module.training and next_step() in steps else output

    model.register_forward_hook(poison)
