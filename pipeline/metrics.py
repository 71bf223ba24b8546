"""What a training run records (rank 0 only): metrics.jsonl, the W&B run (offline by default), loss.png.

metrics.jsonl holds one JSON object per logged step: step, loss, lr, grad_norm, tokens_per_s, mfu
(null where the accelerator's peak is unknown, e.g. CPU), memory_mb, skipped_steps (steps the loss
guard skipped so far; a skipped step is always logged, with its non-finite or spiking loss), and
on eval steps val_loss and val_ppl. The same values go to W&B under the same names with W&B's step = our step. A resumed run
first drops the lines of steps after its checkpoint (they are trained again), so the file always
reads as one uninterrupted run. The W&B run id is created once (`<run.dir>/wandb_run_id`) and
reused on resume, so every restart continues the same W&B run.
"""
from __future__ import annotations

import json
import math
import resource
from pathlib import Path
from typing import Any

import torch

from common.atomic import atomic_write
from common.config import ConfigError, to_dict
from common.wandb_log import offline_logs, open_run, wandb_mode, wandb_records, wandb_run_id
from pipeline.config import TrainConfig

def progress_line(record: dict[str, Any], total_steps: int, eta_s: float | None) -> str:
    """One console line of a logged step: where the run is, how it learns, how fast, when it ends."""
    parts = [f"step {record['step']}/{total_steps}", f"loss {record['loss']:.4f}", f"lr {record['lr']:.3g}",
             f"grad_norm {record['grad_norm']:.3g}", f"{record['tokens_per_s']:,.0f} tokens/s"]
    if record.get("mfu") is not None:
        parts.append(f"MFU {100 * record['mfu']:.1f}%")
    if record.get("val_loss") is not None:
        parts.append(f"val_loss {record['val_loss']:.4f}")
    if record.get("skipped_steps"):
        parts.append(f"skipped {record['skipped_steps']}")
    if eta_s is not None:
        minutes, seconds = divmod(int(eta_s), 60)
        parts.append(f"ETA {minutes // 60}:{minutes % 60:02d}:{seconds:02d}")
    return " | ".join(parts)


def device_name() -> str | None:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def memory_mb() -> float:
    """Peak GPU memory allocated by torch, or this process's peak RSS on CPU."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux reports KiB


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of metrics.jsonl. A torn last line (a crash or a full disk mid-append) is
    dropped, and the logger rewrites the file without it on resume; a bad line elsewhere is an error."""
    path = Path(path)
    if not path.is_file():
        return []
    lines = [(number, line) for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace")
                                                          .splitlines(), 1) if line.strip()]
    records = []
    for index, (number, line) in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if index == len(lines) - 1:
                break
            raise ConfigError(f"{path}:{number}: not a JSON record ({exc}); only a torn last line is "
                              f"dropped, so fix or remove this line") from None
    return records


def offline_logged_through(run_dir: Path, run_id: str) -> int:
    """The last step that earlier offline runs of `run_id` under run_dir hold: what a crashed run
    really wrote, which a SIGKILL cuts short of what it logged (W&B's unflushed records are lost)."""
    last = 0
    for log in offline_logs(run_dir, run_id):
        for record in wandb_records(log):
            if record.WhichOneof("record_type") == "history":
                last = max([last] + [int(json.loads(item.value_json)) for item in record.history.item
                                     if (item.key or "/".join(item.nested_key)) == "_step"])
    return last


class MetricsLogger:
    """Rank 0's recorder; every other rank gets one with enabled=False that does nothing."""

    def __init__(self, cfg: TrainConfig, resume_step: int, enabled: bool):
        self.enabled = enabled
        self.run_dir = Path(cfg.run.dir)
        self.path = self.run_dir / "metrics.jsonl"
        self.wandb_run = None
        self.run_id: str | None = None
        if not enabled:
            return
        kept = [r for r in read_metrics(self.path) if r["step"] <= resume_step]
        with atomic_write(self.path, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in kept)
        self.run_id = wandb_run_id(self.run_dir)
        mode = wandb_mode(cfg.wandb.mode)
        # Steps after the checkpoint that a crashed run already wrote to its offline W&B files: the
        # resumed run recomputes them bit for bit and does not send them again, so W&B holds each
        # step once. (Online, W&B itself ignores steps below the resumed run's counter.)
        self.wandb_logged_through = offline_logged_through(self.run_dir, self.run_id) if mode == "offline" else 0
        if mode != "disabled":
            self.wandb_run = self._open_wandb(cfg, mode)

    def _open_wandb(self, cfg: TrainConfig, mode: str, attempts: int = 24, wait_s: float = 5.0):
        """The run, resumed by id (waiting for an id the previous run's W&B process still holds)."""
        return open_run(cfg.wandb, self.run_dir, self.run_id, mode, to_dict(cfg), attempts=attempts, wait_s=wait_s)

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.wandb_run is not None and record["step"] > self.wandb_logged_through:
            self.wandb_run.log({k: v for k, v in record.items() if k != "step" and v is not None},
                               step=record["step"])

    def plot(self) -> None:
        """loss.png: training loss and validation loss against step."""
        if not self.enabled:
            return
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        records = read_metrics(self.path)
        fig, ax = plt.subplots(figsize=(7, 4))
        train = [(r["step"], r["loss"]) for r in records if r.get("loss") is not None]
        val = [(r["step"], r["val_loss"]) for r in records if r.get("val_loss") is not None]
        if train:
            ax.plot(*zip(*train), label="train loss", linewidth=1)
        if val:
            ax.plot(*zip(*val), "o-", label="validation loss")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (nats/token)")
        ax.set_title(self.run_dir.name)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        with atomic_write(self.run_dir / "loss.png", "wb") as handle:
            fig.savefig(handle, format="png", dpi=100)
        plt.close(fig)

    def finish(self) -> None:
        if not self.enabled:
            return
        self.plot()
        if self.wandb_run is not None:
            self.wandb_run.finish()


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 700.0))
