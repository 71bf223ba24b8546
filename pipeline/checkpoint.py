"""Checkpoints under `<run.dir>/checkpoints/`: save, verify, find the newest intact one, prune, consolidate.

Layout of one checkpoint `<run.dir>/checkpoints/step_00000050/`:
    (DeepSpeed's files: mp_rank_*_model_states.pt, *optim_states.pt ...)
    model.safetensors     the whole fp32 model, our names (+ model_config.yaml); tp/pp or checkpoint.reshardable
    optimizer.safetensors Adam's full fp32 moments and step count, our names; checkpoint.reshardable
    rng_rank00000.pt      each rank's torch/numpy/python RNG states (torch.save, loaded weights_only=True)
    trainer_state.json    step, data position and fingerprint, loss-guard state, W&B run id, layout, model config
    COMPLETE              written last, by rank 0, after every rank's files are saved (barrier): the
                          size and sha256 of every other file (JSON; the ranks share the hashing)
`checkpoints/latest` names the newest complete tag. A checkpoint without COMPLETE (killed
mid-write) is never resumed from and is deleted at the next start. A resume verifies the newest
complete checkpoint against its checksums first; a damaged one (missing, truncated or changed
file) is reported in one line, moved aside as `<tag>.damaged`, and the next older one is tried.
`pretrain checkpoints RUN_DIR --verify` shows the state of each.

Resume policy: the model config must be unchanged, and so must the data fingerprint (the packed
train split's content hash, tokenizer sha256, vocab size, data.seq_len, data.data_seed,
parallel.global_batch: what fixes which samples each step reads) unless run.allow_data_change
is set, which restarts the sample order on the new data. train.steps and the lr schedule
(optim.lr, min_lr, warmup_steps) may change — the rate is recomputed from the new config at the
resumed step. Other optimizer settings come from the checkpoint. The layout (tp, pp, ZeRO stage,
and dp unless ZeRO is off) must match too: DeepSpeed's files are partitioned by it.

Changing layout: with checkpoint.reshardable (the default) every checkpoint also holds the whole
fp32 model (`model.safetensors`) and Adam's moments and step count (`optimizer.safetensors`),
gathered from the live engine under our parameter names (`parallel/consolidate.py`; tp/pp layouts
write the weights even without it). `pretrain consolidate` the checkpoint and start a new run.dir
with run.init_from: it continues the weights, Adam state, step counter (lr schedule) and data
position under any tp/pp/dp/ZeRO layout, and says so in one line.
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
from typing import Any, Callable

import numpy as np
import torch
import yaml

from common.atomic import atomic_write, sha256_file, write_json, write_text
from common.config import ConfigError, config_hash, from_dict
from pipeline import dist
from pipeline.config import ModelConfig, TrainConfig
from pipeline.engines.base import param_group_names
from pipeline.model import Transformer
from pipeline.parallel.layout import data_parallel_size

TAG_RE = re.compile(r"^step_(\d{8})$")
COMPLETE = "COMPLETE"
STATE = "trainer_state.json"
DAMAGED_SUFFIX = ".damaged"


def tag_for(step: int) -> str:
    return f"step_{step:08d}"


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def resume_identity(cfg: TrainConfig) -> dict[str, str]:
    """The model config's hash: what the weights mean, which must not change across a resume."""
    return {"model": config_hash(cfg.model)}


def data_fingerprint(cfg: TrainConfig, manifest: dict[str, Any]) -> dict[str, Any]:
    """What fixes the samples each step reads: the packed train split's content (shard checksums,
    dtype, eos; not its paths), the tokenizer, and the sample-order settings."""
    content = {key: manifest.get(key) for key in ("dtype", "vocab_size", "eos_id", "tokenizer_sha256")}
    content["train_shards"] = manifest.get("splits", {}).get("train", {}).get("shards")
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return {"packed_sha256": digest[:16], "tokenizer_sha256": manifest.get("tokenizer_sha256"),
            "vocab_size": manifest.get("vocab_size"), "seq_len": cfg.data.seq_len,
            "data_seed": cfg.data.data_seed, "global_batch": cfg.parallel.global_batch}


def data_fingerprint_line(fingerprint: dict[str, Any]) -> str:
    return ", ".join(f"{k}={str(v)[:12] if isinstance(v, str) else v}" for k, v in fingerprint.items())


def check_data(state: dict[str, Any], now: dict[str, Any], cfg: TrainConfig, ckpt: Path) -> bool:
    """True when the data differs from the checkpoint's and run.allow_data_change accepts it;
    raises when it differs otherwise. Checkpoints from before fingerprints compare what they saved."""
    saved = state.get("data_fingerprint") or state.get("data_identity") or {}
    differs = [key for key in saved if key in now and saved[key] != now[key]]
    if not differs:
        return False
    if not cfg.run.allow_data_change:
        raise ConfigError(f"{ckpt}: written on other data ({', '.join(differs)} differ): "
                          f"saved [{data_fingerprint_line(saved)}], now [{data_fingerprint_line(now)}]; point data.* "
                          f"at the same data, or set run.allow_data_change=true to go on with this data "
                          f"(its sample order starts over)")
    return True


# ---- integrity: COMPLETE holds every file's size and sha256 ----

@dataclasses.dataclass
class Health:
    ckpt: Path
    state: str          # ok | complete (sizes only) | unverified (no checksums) | incomplete | damaged
    detail: str

    @property
    def usable(self) -> bool:
        return self.state in ("ok", "complete", "unverified")


def checkpoint_files(ckpt: Path) -> list[str]:
    """Every file of a checkpoint but COMPLETE and hidden temp files, relative, sorted."""
    return sorted(p.relative_to(ckpt).as_posix() for p in ckpt.rglob("*")
                  if p.is_file() and p.name != COMPLETE and not p.name.startswith("."))


def _local_digests(ckpt: Path, names: list[str]) -> dict[str, str]:
    return {name: sha256_file(ckpt / name) for name in names}


def _shared_digests(ckpt: Path, names: list[str]) -> dict[str, str]:
    """Collective: the ranks hash the files between them."""
    return dist.shared_map(names, lambda name: sha256_file(ckpt / name))


def inspect(ckpt: Path, digests: Callable[[Path, list[str]], dict[str, str]] | None = _local_digests) -> Health:
    """A checkpoint's state; digests=None checks presence and sizes only (no reading)."""
    marker = ckpt / COMPLETE
    if not marker.is_file():
        return Health(ckpt, "incomplete", f"no {COMPLETE} marker (its writer was killed)")
    try:
        files = json.loads(marker.read_text(encoding="utf-8")).get("files")
    except (ValueError, AttributeError):
        files = None
    if not isinstance(files, dict):
        return Health(ckpt, "unverified", "written before checkpoints carried checksums")
    for name, meta in sorted(files.items()):
        path = ckpt / name
        if not path.is_file():
            return Health(ckpt, "damaged", f"{name} is missing")
        if path.stat().st_size != meta["bytes"]:
            return Health(ckpt, "damaged", f"{name} has {path.stat().st_size} bytes, {meta['bytes']} were written")
    if digests is None:
        return Health(ckpt, "complete", f"{len(files)} files present with their sizes (not hashed)")
    actual = digests(ckpt, sorted(files))
    changed = [name for name in sorted(files) if actual[name] != files[name]["sha256"]]
    if changed:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        return Health(ckpt, "damaged", f"{changed[0]}{more} does not match its sha256 (changed on disk)")
    return Health(ckpt, "ok", f"{len(files)} files match their sha256")


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


def newest_intact(run_dir: str | Path, announce: Callable[[str], None]) -> Path | None:
    """Collective: the newest complete checkpoint whose files match their checksums. Each damaged
    newer one is announced in one line and moved aside (rank 0) as `<tag>.damaged`."""
    done = complete_checkpoints(run_dir)
    for ckpt in reversed(done):
        health = inspect(ckpt, _shared_digests)
        if health.usable:
            return ckpt
        announce(f"checkpoint {ckpt.name} is damaged ({health.detail}); moved aside as {ckpt.name}"
                 f"{DAMAGED_SUFFIX}, trying an older one")
        if dist.rank() == 0:
            aside = ckpt.with_name(ckpt.name + DAMAGED_SUFFIX)
            shutil.rmtree(aside, ignore_errors=True)
            ckpt.rename(aside)
        dist.barrier()
    if done:
        raise ConfigError(f"{checkpoints_dir(run_dir)}: every checkpoint is damaged (moved aside as "
                          f"*{DAMAGED_SUFFIX}); restore one, or remove them to start over")
    return None


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


def seal(run_dir: str | Path, ckpt: Path, keep_last: int) -> None:
    """Collective, after the barrier that follows every rank's save: checksum every file (the ranks
    share the hashing), then rank 0 writes COMPLETE (temp then rename), points `latest` at it and
    prunes old checkpoints."""
    digests = _shared_digests(ckpt, checkpoint_files(ckpt))
    if dist.rank() != 0:
        return
    files = {name: {"bytes": (ckpt / name).stat().st_size, "sha256": digest} for name, digest in digests.items()}
    write_json(ckpt / COMPLETE, {"tag": ckpt.name, "files": files})
    write_text(checkpoints_dir(run_dir) / "latest", ckpt.name + "\n")
    done = complete_checkpoints(run_dir)
    for old in done[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


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
    """Refuse a resume that would silently train a different model or under another layout
    (the data is checked by `check_data`)."""
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
                          f"run.init_from=<`pretrain consolidate {ckpt}` output> to change layout: it continues "
                          f"this run's step, data position and (with checkpoint.reshardable) Adam state")


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
OPTIMIZER = "optimizer.safetensors"


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


def _write_safetensors(out: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    from safetensors.torch import save

    out = Path(out)
    with atomic_write(out, "wb") as handle:
        handle.write(save(tensors, metadata={"format": "pt", **metadata}))
    return out


def write_consolidated(out: Path, weights: dict[str, torch.Tensor], model_cfg: ModelConfig, source: str) -> Path:
    """`out` (safetensors, our parameter names, fp32) + `model_config.yaml` beside it, both atomic."""
    # clone: safetensors refuses tensors sharing storage (tied embeddings)
    tensors = {name: t.detach().float().contiguous().clone() for name, t in weights.items()}
    written = _write_safetensors(out, tensors, {"source": source})
    write_text(written.parent / "model_config.yaml", yaml.safe_dump(dataclasses.asdict(model_cfg), sort_keys=False))
    return written


def write_adam_state(out: Path, moments: dict[str, torch.Tensor], adam_step: int, source: str) -> Path:
    """`optimizer.safetensors`: Adam's full fp32 moments as "exp_avg/<name>" and "exp_avg_sq/<name>"
    for every tensor of `model.safetensors`, and its step count (metadata "adam_step"), atomic."""
    return _write_safetensors(out, moments, {"source": source, "adam_step": str(adam_step)})


def adam_state_beside(weights: str | Path) -> Path | None:
    """The `optimizer.safetensors` beside a consolidated `model.safetensors`, if there is one."""
    path = Path(weights).parent / OPTIMIZER
    return path if path.is_file() else None


def consolidate(path: str | Path, out: str | Path) -> Path:
    """Any intact checkpoint (or a run dir's latest) -> one fp32 `model.safetensors` +
    `model_config.yaml`, its `trainer_state.json` and, when the checkpoint holds one
    (checkpoint.reshardable), its `optimizer.safetensors`: with them `run.init_from` continues the
    step counter, data position and Adam state under another layout."""
    ckpt = resolve_checkpoint(path)
    health = inspect(ckpt)
    if not health.usable:
        raise ConfigError(f"{ckpt}: {health.state}: {health.detail}; consolidate an older checkpoint "
                          f"(`pretrain checkpoints {ckpt.parent.parent} --verify` lists them)")
    weights, model_cfg = fp32_state_dict(ckpt)
    written = write_consolidated(Path(out), weights, model_cfg, str(ckpt))
    write_json(written.parent / STATE, read_state(ckpt))
    moments, copy = ckpt / OPTIMIZER, written.parent / OPTIMIZER
    if moments.is_file():
        with moments.open("rb") as source, atomic_write(copy, "wb") as target:
            shutil.copyfileobj(source, target)
    else:
        copy.unlink(missing_ok=True)     # an older consolidation's moments must not meet these weights
    return written


def init_state(weights: str | Path) -> dict[str, Any] | None:
    """The trainer state `consolidate` wrote beside `run.init_from`'s weights, if any."""
    path = Path(weights).parent / STATE
    return read_state(path.parent) if path.is_file() else None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`pretrain consolidate RUN_DIR_OR_CKPT -o OUT`: registered by pipeline/cli.py."""
    parser = subparsers.add_parser(
        "consolidate", help="merge a checkpoint (any ZeRO stage) into one fp32 model.safetensors",
        description="Write model.safetensors (fp32, our parameter names), model_config.yaml and trainer_state.json "
                    "from the latest complete checkpoint of a run dir, or from one checkpoint dir, and its "
                    "optimizer.safetensors (Adam's state) when it has one: run.init_from=OUT/model.safetensors "
                    "then continues that run under any layout.")
    parser.add_argument("path", help="run dir, its checkpoints/ dir, or a checkpoints/step_* dir")
    parser.add_argument("-o", "--output", required=True,
                        help="output .safetensors file, or a directory to hold model.safetensors")
    parser.set_defaults(func=_consolidate_command)


    listing = subparsers.add_parser(
        "checkpoints", help="list a run's checkpoints and their state (--verify: check every sha256)",
        description="One line per checkpoint: step, size and state (ok, damaged and why, incomplete, ...), "
                    "then the one a resume would start from. Exit code 1 when one is damaged or incomplete.")
    listing.add_argument("run_dir", help="the run.dir of a training run")
    listing.add_argument("--verify", action="store_true", help="hash every file against its recorded sha256")
    listing.set_defaults(func=_checkpoints_command)


def _consolidate_command(args: argparse.Namespace) -> int:
    out = Path(args.output)
    written = consolidate(args.path, out if out.suffix == ".safetensors" else out / CONSOLIDATED)
    moments = adam_state_beside(written)
    print(f"wrote {written}, {written.parent / 'model_config.yaml'}, {written.parent / STATE}"
          + (f" and {moments}" if moments else " (no Adam state: the checkpoint was not checkpoint.reshardable)"))
    return 0


def _checkpoints_command(args: argparse.Namespace) -> int:
    root = checkpoints_dir(args.run_dir)
    if not root.is_dir():
        raise ConfigError(f"{args.run_dir}: no checkpoints/ directory (is it a run.dir?)")
    tags = sorted(p for p in root.iterdir() if p.is_dir() and TAG_RE.match(p.name.removesuffix(DAMAGED_SUFFIX)))
    resume, bad = None, 0
    for ckpt in tags:
        size = sum(f.stat().st_size for f in ckpt.rglob("*") if f.is_file()) / 2**20
        if ckpt.name.endswith(DAMAGED_SUFFIX):
            health = Health(ckpt, "damaged", "moved aside by a resume that found it damaged")
        else:
            health = inspect(ckpt, _local_digests if args.verify else None)
        bad += not health.usable
        resume = ckpt if health.usable else resume
        print(f"{ckpt.name:24s} {size:10.1f} MiB  {health.state}: {health.detail}")
    print(f"a resume starts from {resume.name if resume else 'nothing (step 0)'}"
          + ("" if args.verify else " (sizes checked; --verify hashes every file)"))
    return 1 if bad else 0
