"""Checkpoints under `<run.dir>/checkpoints/`: save, find the latest complete one, prune, consolidate.

Layout of one checkpoint `<run.dir>/checkpoints/step_00000050/`:
    (DeepSpeed's files: mp_rank_*_model_states.pt, *optim_states.pt ...)
    rng_rank00000.pt      each rank's torch/numpy/python RNG states (torch.save, loaded weights_only=True)
    trainer_state.json    step, samples consumed, data seed, W&B run id, config hashes, model config, zero stage
    COMPLETE              written by rank 0 only after every rank's files are saved (barrier)
`checkpoints/latest` names the newest complete tag. A checkpoint without COMPLETE (killed
mid-write) is never resumed from and is deleted at the next start.

Resume policy: the model config, data.seq_len, data.data_seed and parallel.global_batch must be
unchanged (they fix what the weights mean and which samples each step
reads); train.steps and the lr schedule (optim.lr, min_lr, warmup_steps) may change — the rate is
recomputed from the new config at the resumed step. Other optimizer settings come from the checkpoint.
The layout (tp, pp, ZeRO stage, and dp unless ZeRO is off) must match too: DeepSpeed's files are partitioned by
it. To continue under another layout, consolidate and start a new run.dir with run.init_from.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from common.atomic import atomic_write, write_json, write_text
from common.config import ConfigError, config_hash, from_dict
from pipeline.config import ModelConfig, TrainConfig
from pipeline.engines.base import param_group_names
from pipeline.model import Transformer
from pipeline.parallel.layout import data_parallel_size

TAG_RE = re.compile(r"^step_(\d{8})$")
COMPLETE = "COMPLETE"
STATE = "trainer_state.json"


def tag_for(step: int) -> str:
    return f"step_{step:08d}"


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def data_identity(cfg: TrainConfig) -> dict[str, int]:
    return {"seq_len": cfg.data.seq_len, "data_seed": cfg.data.data_seed, "global_batch": cfg.parallel.global_batch}


def resume_identity(cfg: TrainConfig) -> dict[str, str]:
    """What must not change across a resume, each part hashed separately for a precise message."""
    data = json.dumps(data_identity(cfg), sort_keys=True).encode()
    return {"model": config_hash(cfg.model), "data": hashlib.sha256(data).hexdigest()[:16]}


def complete_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = checkpoints_dir(run_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if TAG_RE.match(p.name) and (p / COMPLETE).is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_complete(run_dir: str | Path) -> Path | None:
    done = complete_checkpoints(run_dir)
    return done[-1] if done else None


def remove_incomplete(run_dir: str | Path) -> list[Path]:
    """Delete checkpoints a killed run left half-written (rank 0 only, before anyone saves)."""
    root = checkpoints_dir(run_dir)
    removed = []
    if root.is_dir():
        for path in root.iterdir():
            if TAG_RE.match(path.name) and not (path / COMPLETE).is_file():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


# ---- RNG state: tensors and plain lists only, so it loads with weights_only=True ----

def rng_state() -> dict[str, Any]:
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": np_kind, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["gauss"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def rng_path(ckpt: Path, rank: int) -> Path:
    return ckpt / f"rng_rank{rank:05d}.pt"


def save_rng(ckpt: Path, rank: int) -> None:
    with atomic_write(rng_path(ckpt, rank), "wb") as handle:
        torch.save(rng_state(), handle)


def load_rng(ckpt: Path, rank: int) -> None:
    path = rng_path(ckpt, rank)
    if path.is_file():     # a resume on more ranks than saved: the new ranks keep their seeded RNG
        set_rng_state(torch.load(path, weights_only=True))


# ---- trainer state ----

def write_state(ckpt: Path, state: dict[str, Any]) -> None:
    write_json(ckpt / STATE, state)


def read_state(ckpt: Path) -> dict[str, Any]:
    path = ckpt / STATE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable trainer state ({exc})") from None


def layout_of(cfg: TrainConfig, world_size: int) -> dict[str, int]:
    par = cfg.parallel
    return {"tp": par.tp, "pp": par.pp, "dp": data_parallel_size(par.tp, par.pp, world_size),
            "zero_stage": par.zero_stage}


def check_resumable(state: dict[str, Any], cfg: TrainConfig, ckpt: Path, world_size: int) -> None:
    """Refuse a resume that would silently train a different model or on different data."""
    now = resume_identity(cfg)
    saved = state.get("identity", {})
    if saved.get("model") != now["model"]:
        raise ConfigError(f"{ckpt}: saved under a different model config ({state.get('model_config')}); "
                          f"resume with the same model settings or start a new run.dir")
    saved_layout, layout = state.get("layout", {}), layout_of(cfg, world_size)
    differs = [key for key in ("tp", "pp", "zero_stage") if saved_layout.get(key) != layout[key]]
    if saved_layout.get("dp") != layout["dp"] and layout["zero_stage"] > 0:
        differs.append("dp")         # ZeRO partitions the optimizer state by data-parallel rank
    if differs:
        raise ConfigError(f"{ckpt}: written under layout {saved_layout}, now {layout}; DeepSpeed checkpoints resume "
                          f"only under their own layout. Start a new run.dir with "
                          f"run.init_from=<`pretrain consolidate {ckpt}` output>")
    if saved.get("data") != now["data"]:
        raise ConfigError(f"{ckpt}: data.seq_len, data.data_seed or parallel.global_batch changed since this "
                          f"checkpoint (saved {state.get('data_identity')}); restore them or start a new run.dir")


def mark_complete(run_dir: str | Path, ckpt: Path, keep_last: int) -> None:
    """Rank 0, after the barrier that follows every rank's save: publish, then prune old ones."""
    write_text(ckpt / COMPLETE, ckpt.name + "\n")
    write_text(checkpoints_dir(run_dir) / "latest", ckpt.name + "\n")
    done = complete_checkpoints(run_dir)
    for old in done[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


# ---- consolidation to one fp32 safetensors file ----

def resolve_checkpoint(path: str | Path) -> Path:
    """A run dir, its checkpoints/ dir, or one checkpoint dir -> that (latest complete) checkpoint."""
    path = Path(path)
    if (path / COMPLETE).is_file():
        return path
    for run_dir in (path, path.parent):
        found = latest_complete(run_dir)
        if found is not None and (path == run_dir or path == checkpoints_dir(run_dir)):
            return found
    if TAG_RE.match(path.name) and path.is_dir():
        raise ConfigError(f"{path}: checkpoint is incomplete (no {COMPLETE} marker; its writer was killed)")
    raise ConfigError(f"{path}: no complete checkpoint found (expected a run dir, its checkpoints/ or a step_* dir)")


CONSOLIDATED = "model.safetensors"


def fp32_state_dict(ckpt: Path) -> tuple[dict[str, torch.Tensor], ModelConfig]:
    """Full fp32 weights of a checkpoint with the model's own parameter names, any ZeRO stage.

    A checkpoint holding `model.safetensors` (tp/pp layouts write it at save time, since DeepSpeed's
    files of those layouts cannot be merged offline) is read from that file.
    """
    state = read_state(ckpt)
    model_cfg = from_dict(ModelConfig, state["model_config"], str(ckpt / STATE), "model.")
    if (ckpt / CONSOLIDATED).is_file():
        from safetensors.torch import load_file

        weights = load_file(ckpt / CONSOLIDATED)
    elif state["zero_stage"] == 0:
        files = sorted(ckpt.glob("mp_rank_*_model_states.pt"))
        if len(files) != 1:
            raise ConfigError(f"{ckpt}: expected one mp_rank_*_model_states.pt for ZeRO stage 0, found {len(files)}")
        saved = torch.load(files[0], map_location="cpu", weights_only=True)
        weights = dict(saved["module"])
        # bf16 without ZeRO: the module holds bf16 copies; the fp32 masters sit in the optimizer state
        fp32_groups = (saved.get("optimizer") or {}).get("fp32_groups")
        if fp32_groups:
            with torch.device("meta"):
                names = param_group_names(Transformer(model_cfg))
            for group_names, tensors in zip(names, fp32_groups):
                weights.update(zip(group_names, tensors))
    else:
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        weights = get_fp32_state_dict_from_zero_checkpoint(str(ckpt.parent), tag=ckpt.name)
    return {name: t.detach().float().contiguous().clone() for name, t in weights.items()}, model_cfg


def write_consolidated(out: Path, weights: dict[str, torch.Tensor], model_cfg: ModelConfig, source: str) -> Path:
    """`out` (safetensors, our parameter names, fp32) + `model_config.yaml` beside it, both atomic."""
    from safetensors.torch import save

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # clone: safetensors refuses tensors sharing storage (tied embeddings)
    tensors = {name: t.detach().float().contiguous().clone() for name, t in weights.items()}
    with atomic_write(out, "wb") as handle:
        handle.write(save(tensors, metadata={"format": "pt", "source": source}))
    write_text(out.parent / "model_config.yaml", yaml.safe_dump(dataclasses.asdict(model_cfg), sort_keys=False))
    return out


def consolidate(path: str | Path, out: str | Path) -> Path:
    """Any complete checkpoint (or run dir) -> one fp32 `model.safetensors` + `model_config.yaml`."""
    ckpt = resolve_checkpoint(path)
    weights, model_cfg = fp32_state_dict(ckpt)
    return write_consolidated(Path(out), weights, model_cfg, str(ckpt))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`pretrain consolidate RUN_DIR_OR_CKPT -o OUT`: registered by pipeline/cli.py."""
    parser = subparsers.add_parser(
        "consolidate", help="merge a checkpoint (any ZeRO stage) into one fp32 model.safetensors",
        description="Write model.safetensors (fp32, our parameter names) and model_config.yaml from the latest "
                    "complete checkpoint of a run dir, or from one checkpoint dir.")
    parser.add_argument("path", help="run dir, its checkpoints/ dir, or a checkpoints/step_* dir")
    parser.add_argument("-o", "--output", required=True,
                        help="output .safetensors file, or a directory to hold model.safetensors")
    parser.set_defaults(func=_consolidate_command)


def _consolidate_command(args: argparse.Namespace) -> int:
    out = Path(args.output)
    written = consolidate(args.path, out if out.suffix == ".safetensors" else out / CONSOLIDATED)
    print(f"wrote {written} and {written.parent / 'model_config.yaml'}")
    return 0
