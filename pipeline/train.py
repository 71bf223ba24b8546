"""Pretraining loop, one for every layout (the step is an engine's, `pipeline/engines/`): exact
resume, requeue on SIGUSR1/SIGTERM.

Run: `python -m pipeline.train --config configs/train/tiny_cpu.yaml [key=value ...]` (or
`pretrain train ...`), once per rank with RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT set,
or alone. The run resumes from the newest intact checkpoint in run.dir if there is one. Exit
codes: 0 finished, 85 (EXIT_REQUEUE) checkpointed after a signal and wants requeueing, 2 bad config,
3 (EXIT_DIVERGED) the loss guard skipped guard.max_skipped_in_row steps in a row, 87 (EXIT_NODE_FAULT)
the accelerator failed (the Slurm job requeues without this node).
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from common.atomic import write_text
from common.config import ConfigError, dump_yaml, load_config, to_dict
from dataprep.packed import PackedFormatError, TrainingSamples
from pipeline import checkpoint, dist, mixture
from pipeline.config import EXIT_DIVERGED, EXIT_NODE_FAULT, EXIT_REQUEUE, TrainConfig
from pipeline.watchdog import StepWatchdog
from pipeline.data import Prefetcher, TrainBatches, eval_micro_batches
from pipeline.engines.base import TrainEngine
from pipeline.engines.factory import build_engine
from pipeline.guard import LossGuard, TrainingDiverged, install_nan_faults
from pipeline.hardware import peak_flops
from pipeline.metrics import MetricsLogger, device_name, memory_mb, perplexity, progress_line
from pipeline.model import Transformer
from pipeline.parallel.consolidate import load_into_model
from pipeline.parallel.layout import check_layout


class StopFlag:
    """Set by SIGUSR1/SIGTERM; the loop finishes its step, then all ranks agree to checkpoint and exit."""

    def __init__(self) -> None:
        self.raised = False
        for sig in (signal.SIGUSR1, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.raised = True


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def end_of_document_id(samples: TrainingSamples | mixture.BlendedSamples) -> int:
    """The id that ends every document in the packed stream (a blend's sources share one tokenizer)."""
    first = samples.sources[0] if isinstance(samples, mixture.BlendedSamples) else samples
    return first.corpus.eos_id


class Trainer:
    def __init__(self, cfg: TrainConfig, stop: StopFlag):
        self.cfg = cfg
        self.run_dir = Path(cfg.run.dir)
        self.rank, self.world = dist.rank(), dist.world_size()
        self.stop = stop
        if self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            checkpoint.remove_incomplete(self.run_dir)
        dist.barrier()
        train_samples = mixture.load(cfg, "train")
        if train_samples is None:
            raise ConfigError(f"{cfg.data.packed_dir}: the train split is too small for one sample of "
                              f"data.seq_len {cfg.data.seq_len}")
        self.val_samples = mixture.load(cfg, "validation")
        self.fingerprint = mixture.data_fingerprint(cfg, checkpoint.data_fingerprint)
        if isinstance(train_samples, mixture.BlendedSamples) and self.rank == 0:
            print("\n".join(["data mixture (share of samples per source):", *mixture.describe(
                train_samples, cfg.data.data_seed, cfg.train.steps, cfg.parallel.global_batch)]), flush=True)
        self.resume_from = checkpoint.newest_intact(self.run_dir, self.announce)
        self.resume_state = checkpoint.read_state(self.resume_from) if self.resume_from else None
        # a consolidated checkpoint under run.init_from continues its step count, data position and Adam state
        continued = (checkpoint.init_state(cfg.run.init_from) if cfg.run.init_from and cfg.run.init_continue
                     and self.resume_state is None else None)
        source = self.resume_state or continued
        if self.resume_state is not None:      # refuse before the costly engine build
            checkpoint.check_resumable(self.resume_state, cfg, self.resume_from, self.world)
        data_changed = source is not None and checkpoint.check_data(
            source, self.fingerprint, cfg, self.resume_from or Path(cfg.run.init_from))
        start = int(source["step"]) if source else 0
        self.data_start = start if data_changed else int((source or {}).get("data_start_step", 0))
        if data_changed:
            self.announce(f"WARNING: run.allow_data_change: the data differs from the checkpoint's; its sample "
                          f"order starts over at step {start} (data fingerprint now "
                          f"{checkpoint.data_fingerprint_line(self.fingerprint)})")
        self.guard = LossGuard(cfg.guard, (source or {}).get("guard"))

        seed_everything(cfg.run.seed)
        model = Transformer(cfg.model)
        if cfg.run.init_from and self.resume_from is None:
            load_into_model(model, cfg.run.init_from)
        install_nan_faults(model, lambda: self.step + 1)
        if self.rank == 0:
            print(f"model: {cfg.model.num_params():,} parameters ({cfg.model.num_params(embeddings=False):,} "
                  f"without embeddings), {cfg.model.flops_per_token(cfg.data.seq_len):.4g} training FLOPs/token "
                  f"at seq_len {cfg.data.seq_len}; {self.world} ranks", flush=True)
        eos_id = end_of_document_id(train_samples) if cfg.data.document_mask else None
        self.engine: TrainEngine = build_engine(cfg, model, eos_id)
        self.batches = TrainBatches(train_samples, cfg.parallel.global_batch, cfg.parallel.micro_batch,
                                    self.engine.dp_rank, self.engine.dp_size, cfg.data.data_seed)
        self.step = self.resume()
        if continued is not None:
            self.step = start
            self.engine.start_at(start)
            self.continue_layout(continued)
        if self.rank == 0:
            write_text(self.run_dir / "config.yaml", dump_yaml(cfg))
        self.metrics = MetricsLogger(cfg, self.step, enabled=self.rank == 0)
        self.tokens_per_step = cfg.parallel.global_batch * cfg.data.seq_len
        peak = peak_flops(device_name())
        self.flops_fraction = (cfg.model.flops_per_token(cfg.data.seq_len) / (peak * self.world)) if peak else None

    def announce(self, line: str) -> None:
        if self.rank == 0:
            print(line, flush=True)

    def resume(self) -> int:
        ckpt, state = self.resume_from, self.resume_state
        if ckpt is None or state is None:
            return 0
        self.engine.load(ckpt.parent, ckpt.name, state["step"])
        checkpoint.load_rng(ckpt, self.rank)
        if self.rank == 0:
            print(f"resumed from {ckpt} at step {state['step']}", flush=True)
        return int(state["step"])

    def continue_layout(self, state: dict) -> None:
        """A run continued from a consolidated checkpoint (`run.init_from`, weights already in the
        model): its Adam state when saved beside it, then one line saying what moved and what came along."""
        cfg = self.cfg
        moments = checkpoint.adam_state_beside(cfg.run.init_from)
        carried = "lr schedule and data position"
        if moments is not None:
            carried = f"Adam moments (optimizer step {self.engine.load_adam_state(moments)}), " + carried
        else:
            carried += f"; Adam moments start fresh (no {checkpoint.OPTIMIZER} beside it)"
        layout, saved = checkpoint.layout_of(cfg, self.world), state.get("layout", {})
        before, now = (", ".join(f"{k}={shape.get(k, '?')}" for k in layout) for shape in (saved, layout))
        self.announce(f"layout change: continuing {cfg.run.init_from} at step {state['step']}, written under "
                      f"[{before}], now [{now}]; carried over: weights, {carried}")

    def save(self) -> None:
        tag = checkpoint.tag_for(self.step)
        ckpt = checkpoint.checkpoints_dir(self.run_dir) / tag
        self.engine.save(ckpt.parent, tag, client_state={"step": self.step})
        self.save_consolidated(ckpt)
        checkpoint.save_rng(ckpt, self.rank)
        if self.rank == 0:
            checkpoint.write_state(ckpt, {
                "step": self.step,
                "samples_consumed": self.step * self.cfg.parallel.global_batch,
                "epoch": self.batches.epoch_of(self.step - self.data_start),
                "data_start_step": self.data_start,
                "data_fingerprint": self.fingerprint,
                "guard": self.guard.state(),
                "data_seed": self.cfg.data.data_seed,
                "wandb_run_id": self.metrics.run_id,
                "zero_stage": self.engine.zero_stage,
                "world_size": self.world,
                "layout": checkpoint.layout_of(self.cfg, self.world),
                "identity": checkpoint.resume_identity(self.cfg),
                "model_config": to_dict(self.cfg.model),
            })
        dist.barrier()                       # every rank's files are on disk
        checkpoint.seal(self.run_dir, ckpt, self.cfg.checkpoint.keep_last)
        if self.rank == 0:
            self.metrics.plot()
        dist.barrier()

    def save_consolidated(self, ckpt: Path) -> None:
        """Collective: the whole fp32 model under tp/pp (DeepSpeed's files of those layouts cannot be
        merged offline) or with checkpoint.reshardable, then, with it, Adam's state; one tensor set at
        a time on rank 0."""
        par, source = self.cfg.parallel, str(ckpt)
        if self.cfg.checkpoint.reshardable or par.tp > 1 or par.pp > 1:
            weights = self.engine.full_state_dict()
            if weights is not None:
                checkpoint.write_consolidated(ckpt / checkpoint.CONSOLIDATED, weights, self.cfg.model, source)
            del weights
        if self.cfg.checkpoint.reshardable:
            adam = self.engine.full_adam_state()
            if adam is not None:
                checkpoint.write_adam_state(ckpt / checkpoint.OPTIMIZER, *adam, source)

    def evaluate(self) -> dict[str, float]:
        if self.val_samples is None:
            return {}
        cfg = self.cfg
        batches = eval_micro_batches(self.val_samples, cfg.train.eval_batches * cfg.parallel.global_batch,
                                     cfg.parallel.micro_batch, self.engine.dp_rank, self.engine.dp_size)
        if not batches:
            return {}
        loss = self.engine.eval_loss(batches)
        out = {"val_loss": loss, "val_ppl": perplexity(loss)}
        if isinstance(self.val_samples, mixture.InOrder):      # a blend: each source's own loss beside it
            blend = self.val_samples.blend
            for name, source in zip(blend.names, blend.sources):
                own = eval_micro_batches(source, cfg.train.eval_batches * cfg.parallel.global_batch,
                                         cfg.parallel.micro_batch, self.engine.dp_rank, self.engine.dp_size)
                if own:
                    out[f"val_loss/{name}"] = self.engine.eval_loss(own)
        return out

    def run(self) -> int:
        cfg, last_saved = self.cfg, self.step
        first_step, loop_started = self.step, time.perf_counter()
        self.watchdog = StepWatchdog(cfg.hang, self.rank)
        loader = Prefetcher(self.batches, self.step - self.data_start, cfg.train.steps - self.data_start,
                            cfg.data.prefetch, torch.cuda.is_available())
        while self.step < cfg.train.steps:
            lr = self.engine.lr()
            started = time.perf_counter()
            loss = self.engine.train_step(loader.get(self.step - self.data_start), accept=self.guard.accepts)
            elapsed = time.perf_counter() - started
            skipped = self.guard.after_step(loss, self.engine.step_applied())
            self.watchdog.beat()
            self.step += 1
            is_last = self.step == cfg.train.steps
            evaluate = cfg.train.eval_every > 0 and (self.step % cfg.train.eval_every == 0 or is_last)
            if skipped:
                self.announce(f"step {self.step}: skipped ({skipped}); {self.guard.skipped} skipped in all, "
                              f"{self.guard.in_row} in a row")
            if skipped or evaluate or is_last or self.step % cfg.train.log_every == 0:
                tokens_per_s = self.tokens_per_step / elapsed
                record = {"step": self.step, "loss": loss, "lr": lr, "grad_norm": self.engine.grad_norm(),
                          "tokens_per_s": tokens_per_s,
                          "mfu": tokens_per_s * self.flops_fraction if self.flops_fraction else None,
                          "epoch": self.batches.epoch_of(self.step - 1 - self.data_start), "memory_mb": memory_mb(),
                          "skipped_steps": self.guard.skipped}
                if evaluate:
                    record.update(self.evaluate())
                self.metrics.log(record)
                if self.rank == 0 and (evaluate or is_last or self.step % cfg.train.print_every == 0):
                    per_step = (time.perf_counter() - loop_started) / (self.step - first_step)
                    print(progress_line(record, cfg.train.steps, per_step * (cfg.train.steps - self.step)), flush=True)
            if self.guard.exhausted:       # every rank agrees: the guard sees the same global numbers
                self.metrics.finish()
                latest = checkpoint.latest_complete(self.run_dir)
                raise TrainingDiverged(
                    f"{self.guard.in_row} steps in a row skipped up to step {self.step} ({skipped}); stopped "
                    f"without saving. The last checkpoint is {latest or 'none'}; lower optim.lr or check the data "
                    f"near this step, then rerun (it resumes from there)")
            stopping = dist.any_rank(self.stop.raised)
            if stopping or is_last or self.step % cfg.checkpoint.every == 0:
                self.save()
                last_saved = self.step
            if stopping and not is_last:
                if self.rank == 0:
                    print(f"stopped by signal at step {self.step}; checkpoint saved, exiting {EXIT_REQUEUE}",
                          flush=True)
                loader.close()
                self.metrics.finish()
                return EXIT_REQUEUE
        loader.close()
        if last_saved != self.step:        # resumed a finished run with no final checkpoint
            self.save()
        self.metrics.finish()
        return 0


def train(cfg: TrainConfig) -> int:
    stop = StopFlag()          # before the slow start-up: a signal then is honoured at the first step
    dist.init(cfg.hang.collective_timeout_s)
    try:
        return Trainer(cfg, stop).run()
    finally:
        dist.shutdown()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="training YAML, e.g. configs/train/tiny_cpu.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.steps=100")


def run_args(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(TrainConfig, args.config, args.overrides)
        cfg.validate()
        # every rank rejects a bad tp x pp x dp layout before any process group exists
        check_layout(cfg.parallel, cfg.model, int(os.environ.get("WORLD_SIZE", "1")))
        return train(cfg)
    except (ConfigError, PackedFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DIVERGED
    except RuntimeError as exc:
        if not device_fault(exc):
            raise
        traceback.print_exc()
        print(f"error: the accelerator failed ({exc}); exiting {EXIT_NODE_FAULT} so the job requeues without "
              f"this node", file=sys.stderr)
        return EXIT_NODE_FAULT


def device_fault(exc: BaseException) -> bool:
    """A CUDA runtime error that points at this node's hardware (ECC, a GPU off the bus, an illegal
    instruction), not at the job: out-of-memory and device-side asserts (bad indices) would follow the
    job to any node. torch >= 2.8 raises torch.AcceleratorError, older torch a RuntimeError; both
    carry "CUDA error: <what>"."""
    text = str(exc)
    return "CUDA error" in text and "out of memory" not in text and "device-side assert" not in text


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`pretrain train`: registered by pipeline/cli.py."""
    parser = subparsers.add_parser("train", help="pretrain a model with DeepSpeed (resumes automatically)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(func=run_args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
